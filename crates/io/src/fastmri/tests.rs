use super::*;
use crate::atomic::{junk_bytes, leftovers};
use crate::ismrmrd::MatrixSize;
use hdf5::H5Type;

/// h5py's complex64 compound, declared independently of `Complex32`'s `H5Type` impl.
#[derive(H5Type, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct H5pyC64 {
    r: f32,
    i: f32,
}

/// h5py's complex128 compound.
#[derive(H5Type, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct H5pyC128 {
    r: f64,
    i: f64,
}

fn encoding(cols: usize) -> IsmrmrdEncoding {
    IsmrmrdEncoding {
        encoded_matrix: MatrixSize {
            x: 8,
            y: cols + 2,
            z: 1,
        },
        recon_matrix: MatrixSize { x: 4, y: 4, z: 1 },
        kspace_encoding_step_1_center: (cols / 2) as i64,
        kspace_encoding_step_1_maximum: cols as i64 - 1,
    }
}

/// Distinct, exactly representable k-space values.
fn kval(k: usize) -> Complex32 {
    Complex32::new(k as f32 * 0.25 - 7.0, 1000.0 - k as f32)
}

fn stack(shape: [usize; 3], offset: f32) -> ImageStack {
    let n = shape.iter().product();
    ImageStack {
        shape,
        data: (0..n).map(|k| offset + k as f32 * 0.125).collect(),
    }
}

fn multicoil_volume() -> FastmriVolume {
    let shape = vec![3, 2, 8, 6];
    let n = shape.iter().product();
    FastmriVolume {
        kspace_shape: shape,
        kspace: (0..n).map(kval).collect(),
        ismrmrd_header: encoding(6).to_xml(),
        reconstruction_rss: Some(stack([3, 4, 4], 0.5)),
        reconstruction_esc: None,
        mask: None,
        attrs: FastmriAttrs {
            acquisition: Some("CORPD_FBK".into()),
            max: Some(0.000_123_4),
            norm: Some(0.0456),
            patient_id: Some("0a1b2c3d4e5f".into()),
            acceleration: None,
            num_low_frequency: None,
        },
    }
}

#[test]
fn multicoil_volume_round_trips_slice_by_slice() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("file1000001.h5");
    let vol = multicoil_volume();
    write_fastmri(&p, &vol).unwrap();
    assert!(leftovers(dir.path()).is_empty());
    let f = FastmriFile::open(&p).unwrap();
    assert!(f.is_multicoil());
    assert_eq!(f.num_slices(), 3);
    assert_eq!(f.num_coils(), 2);
    assert_eq!(f.kspace_shape(), &[3, 2, 8, 6]);
    let per_slice = 2 * 8 * 6;
    for i in 0..3 {
        let (shape, v) = f.read_kspace_slice(i).unwrap();
        assert_eq!(shape, vec![2, 8, 6]);
        assert_eq!(v, &vol.kspace[i * per_slice..(i + 1) * per_slice]);
    }
    // Element (slice 1, coil 1, row 3, col 4) in C order.
    let (_, v) = f.read_kspace_slice(1).unwrap();
    assert_eq!(v[(8 + 3) * 6 + 4], kval(per_slice + (8 + 3) * 6 + 4));
    assert_eq!(f.target_name(), FastmriTarget::Rss);
    assert!(f.has_target());
    assert!(!f.has_reconstruction(FastmriTarget::Esc));
    assert_eq!(f.reconstruction_shape(FastmriTarget::Rss), Some([3, 4, 4]));
    let rss = vol.reconstruction_rss.as_ref().unwrap();
    for i in 0..3 {
        let (s, t) = f.read_target_slice(i).unwrap();
        assert_eq!(s, [4, 4]);
        assert_eq!(t, &rss.data[i * 16..(i + 1) * 16]);
    }
    assert_eq!(f.attrs(), &vol.attrs);
    assert_eq!(f.mask(), None);
    assert_eq!(f.ismrmrd_header_xml(), vol.ismrmrd_header);
    assert_eq!(f.encoding(), &encoding(6));
    // encoded y = 8: padding_left = 8 // 2 − 3 = 1, padding_right = 1 + 5 + 1 = 7.
    assert_eq!(f.padding(), (1, 7));
    let msg = f.read_kspace_slice(3).unwrap_err().to_string();
    assert!(
        msg.contains("index 3") && msg.contains("file1000001.h5"),
        "{msg}"
    );
    let msg = f
        .read_reconstruction_slice(FastmriTarget::Esc, 0)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("reconstruction_esc") && msg.contains("missing"),
        "{msg}"
    );
}

#[test]
fn singlecoil_and_test_set_files() {
    let dir = tempfile::tempdir().unwrap();
    // Single-coil train file: both targets, ESC is the training target.
    let p = dir.path().join("single.h5");
    let n = 2 * 8 * 6;
    let vol = FastmriVolume {
        kspace_shape: vec![2, 8, 6],
        kspace: (0..n).map(kval).collect(),
        ismrmrd_header: encoding(6).to_xml(),
        reconstruction_rss: Some(stack([2, 4, 4], 100.0)),
        reconstruction_esc: Some(stack([2, 4, 4], -50.0)),
        mask: None,
        attrs: FastmriAttrs::default(),
    };
    write_fastmri(&p, &vol).unwrap();
    let f = FastmriFile::open(&p).unwrap();
    assert!(!f.is_multicoil());
    assert_eq!(f.num_coils(), 1);
    let (shape, v) = f.read_kspace_slice(1).unwrap();
    assert_eq!(shape, vec![8, 6]);
    assert_eq!(v, &vol.kspace[48..]);
    assert_eq!(f.target_name(), FastmriTarget::Esc);
    let (_, t) = f.read_target_slice(1).unwrap();
    assert_eq!(t, &vol.reconstruction_esc.as_ref().unwrap().data[16..]);
    let (_, r) = f.read_reconstruction_slice(FastmriTarget::Rss, 0).unwrap();
    assert_eq!(r, &vol.reconstruction_rss.as_ref().unwrap().data[..16]);
    assert_eq!(f.attrs(), &FastmriAttrs::default());

    // Multi-coil test file: mask and test attributes, no target.
    let q = dir.path().join("test.h5");
    let mut t = multicoil_volume();
    t.reconstruction_rss = None;
    t.mask = Some(vec![false, true, true, true, false, true]);
    t.attrs.max = None;
    t.attrs.norm = None;
    t.attrs.acceleration = Some(4);
    t.attrs.num_low_frequency = Some(3);
    write_fastmri(&q, &t).unwrap();
    let f = FastmriFile::open(&q).unwrap();
    assert_eq!(f.mask(), t.mask.as_deref());
    assert_eq!(f.attrs(), &t.attrs);
    assert!(!f.has_target());
    let msg = f.read_target_slice(0).unwrap_err().to_string();
    assert!(
        msg.contains("reconstruction_rss") && msg.contains("test.h5"),
        "{msg}"
    );
}

/// Build a file exactly as h5py lays out a fastMRI volume, without using this module's
/// writer: `kspace` as the `{r, i}` compound, `ismrmrd_header` as h5py writes a Python
/// `bytes` (scalar variable-length ASCII), attributes as h5py writes `str` (variable-length
/// UTF-8), `np.float32`, `np.float64`, `np.int64`, a `np.bytes_` (fixed-length ASCII), and
/// the mask as h5py's bool enum. The values follow the module-doc Python snippet.
#[test]
fn reads_a_file_in_h5py_layout() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("h5py.h5");
    let (s, c, r, w) = (2usize, 3usize, 4usize, 5usize);
    let n = s * c * r * w;
    let vals: Vec<H5pyC64> = (0..n)
        .map(|k| H5pyC64 {
            r: kval(k).re,
            i: kval(k).im,
        })
        .collect();
    {
        let f = hdf5::File::create(&p).unwrap();
        f.new_dataset::<H5pyC64>()
            .shape((s, c, r, w))
            .create("kspace")
            .unwrap()
            .write_raw(&vals)
            .unwrap();
        let hdr: VarLenAscii = VarLenAscii::from_ascii(encoding(w).to_xml().as_bytes()).unwrap();
        f.new_dataset::<VarLenAscii>()
            .shape(())
            .create("ismrmrd_header")
            .unwrap()
            .write_scalar(&hdr)
            .unwrap();
        f.new_dataset::<bool>()
            .shape(w)
            .create("mask")
            .unwrap()
            .write_raw(&[true, false, false, true, true])
            .unwrap();
        let acq: VarLenUnicode = "AXT2".parse().unwrap();
        f.new_attr::<VarLenUnicode>()
            .shape(())
            .create("acquisition")
            .unwrap()
            .write_scalar(&acq)
            .unwrap();
        f.new_attr::<f32>()
            .shape(())
            .create("max")
            .unwrap()
            .write_scalar(&1.5f32)
            .unwrap();
        f.new_attr::<f64>()
            .shape(())
            .create("norm")
            .unwrap()
            .write_scalar(&2.25f64)
            .unwrap();
        f.new_attr::<i64>()
            .shape(())
            .create("acceleration")
            .unwrap()
            .write_scalar(&8i64)
            .unwrap();
        let pid = hdf5::types::FixedAscii::<12>::from_ascii(b"patient-0042").unwrap();
        f.new_attr::<hdf5::types::FixedAscii<12>>()
            .shape(())
            .create("patient_id")
            .unwrap()
            .write_scalar(&pid)
            .unwrap();
    }
    let f = FastmriFile::open(&p).unwrap();
    assert_eq!(f.kspace_shape(), &[s, c, r, w]);
    let (_, v) = f.read_kspace_slice(1).unwrap();
    let per = c * r * w;
    for (k, z) in v.iter().enumerate() {
        assert_eq!(*z, kval(per + k));
    }
    assert_eq!(f.mask(), Some(&[true, false, false, true, true][..]));
    let a = f.attrs();
    assert_eq!(a.acquisition.as_deref(), Some("AXT2"));
    assert_eq!(a.max, Some(1.5));
    assert_eq!(a.norm, Some(2.25));
    assert_eq!(a.acceleration, Some(8));
    assert_eq!(a.patient_id.as_deref(), Some("patient-0042"));
    assert_eq!(a.num_low_frequency, None);
    assert_eq!(f.encoding(), &encoding(w));
}

#[test]
fn complex128_kspace_and_fixed_length_header_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c128.h5");
    let vals: Vec<H5pyC128> = (0..2 * 4 * 3)
        .map(|k| H5pyC128 {
            r: kval(k).re as f64,
            i: kval(k).im as f64,
        })
        .collect();
    let xml = encoding(3).to_xml();
    {
        let f = hdf5::File::create(&p).unwrap();
        f.new_dataset::<H5pyC128>()
            .shape((2, 4, 3))
            .create("kspace")
            .unwrap()
            .write_raw(&vals)
            .unwrap();
        let hdr = hdf5::types::FixedAscii::<4096>::from_ascii(xml.as_bytes()).unwrap();
        f.new_dataset::<hdf5::types::FixedAscii<4096>>()
            .shape(())
            .create("ismrmrd_header")
            .unwrap()
            .write_scalar(&hdr)
            .unwrap();
    }
    let f = FastmriFile::open(&p).unwrap();
    assert_eq!(f.ismrmrd_header_xml(), xml);
    let (shape, v) = f.read_kspace_slice(1).unwrap();
    assert_eq!(shape, vec![4, 3]);
    assert_eq!(v, (12..24).map(kval).collect::<Vec<_>>());
}

/// Write `vol` with our writer, then let `edit` change the file with the hdf5 crate.
fn edited(dir: &Path, name: &str, edit: impl FnOnce(&hdf5::File)) -> PathBuf {
    let p = dir.join(name);
    write_fastmri(&p, &multicoil_volume()).unwrap();
    let f = hdf5::File::open_rw(&p).unwrap();
    edit(&f);
    drop(f);
    p
}

fn open_err(p: &Path) -> String {
    FastmriFile::open(p).unwrap_err().to_string()
}

#[test]
fn corrupt_and_incomplete_files_are_errors_naming_the_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = edited(d, "a.h5", |f| f.unlink("kspace").unwrap());
    let msg = open_err(&p);
    assert!(msg.contains("`kspace`") && msg.contains("missing"), "{msg}");

    let p = edited(d, "b.h5", |f| f.unlink("ismrmrd_header").unwrap());
    let msg = open_err(&p);
    assert!(
        msg.contains("`ismrmrd_header`") && msg.contains("missing"),
        "{msg}"
    );

    let p = edited(d, "c.h5", |f| {
        f.unlink("kspace").unwrap();
        f.new_dataset::<f32>()
            .shape((3, 2, 8, 6))
            .create("kspace")
            .unwrap();
    });
    let msg = open_err(&p);
    assert!(
        msg.contains("`kspace`") && msg.contains("compound"),
        "{msg}"
    );

    let p = edited(d, "d.h5", |f| {
        f.unlink("kspace").unwrap();
        f.new_dataset::<Complex32>()
            .shape((3, 8))
            .create("kspace")
            .unwrap();
    });
    let msg = open_err(&p);
    assert!(msg.contains("`kspace`") && msg.contains("[3, 8]"), "{msg}");

    let p = edited(d, "e.h5", |f| {
        f.unlink("reconstruction_rss").unwrap();
        f.new_dataset::<f32>()
            .shape((2, 4, 4))
            .create("reconstruction_rss")
            .unwrap();
    });
    let msg = open_err(&p);
    assert!(
        msg.contains("`reconstruction_rss`") && msg.contains("2 slices"),
        "{msg}"
    );

    let p = edited(d, "f.h5", |f| {
        f.unlink("ismrmrd_header").unwrap();
        let bad: VarLenUnicode = "<ismrmrdHeader><encoding>".parse().unwrap();
        f.new_dataset::<VarLenUnicode>()
            .shape(())
            .create("ismrmrd_header")
            .unwrap()
            .write_scalar(&bad)
            .unwrap();
    });
    let msg = open_err(&p);
    assert!(msg.contains("f.h5"), "{msg}");
    assert!(msg.contains("ISMRMRD header XML"), "{msg}");

    let p = edited(d, "g.h5", |f| {
        f.unlink("ismrmrd_header").unwrap();
        f.new_dataset::<f64>()
            .shape(())
            .create("ismrmrd_header")
            .unwrap();
    });
    let msg = open_err(&p);
    assert!(
        msg.contains("`ismrmrd_header`") && msg.contains("string"),
        "{msg}"
    );

    let p = edited(d, "h.h5", |f| {
        f.new_dataset::<f32>()
            .shape(6)
            .create("mask")
            .unwrap()
            .write_raw(&[0.0f32, 1.0, 2.0, 0.0, 1.0, 1.0])
            .unwrap();
    });
    let msg = open_err(&p);
    assert!(
        msg.contains("`mask`") && msg.contains("value 2 at index 2"),
        "{msg}"
    );

    let p = edited(d, "i.h5", |f| {
        f.delete_attr("max").unwrap();
        let s: VarLenUnicode = "big".parse().unwrap();
        f.new_attr::<VarLenUnicode>()
            .shape(())
            .create("max")
            .unwrap()
            .write_scalar(&s)
            .unwrap();
    });
    let msg = open_err(&p);
    assert!(msg.contains("`max`") && msg.contains("number"), "{msg}");

    let p = edited(d, "j.h5", |f| {
        f.new_attr::<f64>()
            .shape(())
            .create("acceleration")
            .unwrap()
            .write_scalar(&4.5f64)
            .unwrap();
    });
    let msg = open_err(&p);
    assert!(
        msg.contains("`acceleration`") && msg.contains("4.5"),
        "{msg}"
    );

    // Random bytes, a truncated file, a missing file.
    let junk = d.join("junk.h5");
    let bytes = junk_bytes(99, 4096);
    std::fs::write(&junk, &bytes).unwrap();
    let msg = open_err(&junk);
    assert!(msg.contains("junk.h5") && msg.contains("HDF5"), "{msg}");
    let t = d.join("trunc.h5");
    write_fastmri(&t, &multicoil_volume()).unwrap();
    let all = std::fs::read(&t).unwrap();
    std::fs::write(&t, &all[..all.len() / 2]).unwrap();
    match FastmriFile::open(&t) {
        Err(e) => assert!(e.to_string().contains("trunc.h5"), "{e}"),
        Ok(f) => {
            let r = (0..3).try_for_each(|i| f.read_kspace_slice(i).map(|_| ()));
            assert!(r.is_err(), "truncated k-space read back without error");
        }
    }
    let msg = open_err(&d.join("absent.h5"));
    assert!(msg.contains("absent.h5"), "{msg}");
}

#[test]
fn writer_rejects_inconsistent_volumes_and_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v.h5");
    write_fastmri(&p, &multicoil_volume()).unwrap();
    let before = std::fs::read(&p).unwrap();
    let mut v = multicoil_volume();
    v.kspace.pop();
    assert!(write_fastmri(&p, &v).is_err());
    let mut v = multicoil_volume();
    v.kspace_shape = vec![3, 96];
    v.kspace.truncate(288);
    assert!(
        write_fastmri(&p, &v)
            .unwrap_err()
            .to_string()
            .contains("kspace_shape")
    );
    let mut v = multicoil_volume();
    v.kspace[5].im = f32::NAN;
    let msg = write_fastmri(&p, &v).unwrap_err().to_string();
    assert!(msg.contains("kspace") && msg.contains("index 5"), "{msg}");
    let mut v = multicoil_volume();
    v.ismrmrd_header = "<x/>".into();
    assert!(write_fastmri(&p, &v).is_err());
    let mut v = multicoil_volume();
    v.mask = Some(vec![true; 5]);
    let msg = write_fastmri(&p, &v).unwrap_err().to_string();
    assert!(msg.contains("mask") && msg.contains("(6)"), "{msg}");
    let mut v = multicoil_volume();
    v.reconstruction_rss = Some(stack([2, 4, 4], 0.0));
    let msg = write_fastmri(&p, &v).unwrap_err().to_string();
    assert!(msg.contains("3 slices"), "{msg}");
    let mut v = multicoil_volume();
    v.reconstruction_rss.as_mut().unwrap().data[7] = f32::INFINITY;
    assert!(write_fastmri(&p, &v).is_err());
    assert_eq!(std::fs::read(&p).unwrap(), before);
    assert!(leftovers(dir.path()).is_empty());
    // A missing directory names the path and leaves nothing behind.
    let msg = write_fastmri(dir.path().join("no_dir/x.h5"), &multicoil_volume())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no_dir"), "{msg}");
}

#[test]
fn submission_file_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("file1000001.h5");
    let shape = [2, 3, 4];
    let data: Vec<f32> = (0..24).map(|k| k as f32 / 3.0).collect();
    write_reconstruction(&p, shape, &data).unwrap();
    assert_eq!(read_reconstruction(&p).unwrap(), (shape, data.clone()));
    // The dataset is float32 and named as fastMRI's `save_reconstructions` names it.
    let f = hdf5::File::open(&p).unwrap();
    let ds = f.dataset("reconstruction").unwrap();
    assert_eq!(
        ds.dtype().unwrap().to_descriptor().unwrap(),
        TypeDescriptor::Float(hdf5::types::FloatSize::U4)
    );
    drop(ds);
    drop(f);
    let mut bad = data.clone();
    bad[3] = f32::NAN;
    assert!(write_reconstruction(&p, shape, &bad).is_err());
    assert!(write_reconstruction(&p, [2, 3, 5], &data).is_err());
    assert_eq!(read_reconstruction(&p).unwrap().1, data);
    assert!(leftovers(dir.path()).is_empty());
    let msg = read_reconstruction(dir.path().join("none.h5"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("none.h5"), "{msg}");
}
