//! End-to-end tests of `fedrecon fed provision`: the kit's files, their formats (certificates
//! checked with the `openssl` command when present, OpenSSH keys parsed back with `ssh-key`),
//! and its errors. The check against a running Flower SuperLink is `tests/flower/provision_check.sh`.

mod common;
use common::{Tmp, fails, succeed};
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, PrivateKey, PublicKey};
use std::path::Path;
use std::process::Command;

const SITES: [&str; 3] = ["a", "site-b", "C_3"];

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `openssl args…` → stdout, or `None` when there is no `openssl` command.
fn openssl(args: &[&str]) -> Option<String> {
    let out = Command::new("openssl").args(args).output().ok()?;
    assert!(
        out.status.success(),
        "openssl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(unix)]
fn mode(path: &str) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The SSH keys of every site: parse back, derive the public key, compare with the `.pub`, the
/// SuperLink's list and `provision.json`.
fn check_site_keys(kit: &str, record: &serde_json::Value) -> Vec<String> {
    let authorized = read(&format!("{kit}/superlink/authorized-supernodes.txt"));
    let lines: Vec<&str> = authorized.lines().collect();
    assert_eq!(lines.len(), SITES.len(), "{authorized}");
    let ca = read(&format!("{kit}/superlink/ca.crt"));
    let mut fingerprints = Vec::new();
    for (i, name) in SITES.iter().enumerate() {
        let dir = format!("{kit}/sites/{name}");
        assert_eq!(
            read(&format!("{dir}/ca.crt")),
            ca,
            "{name}: ca.crt is a copy"
        );
        let text = read(&format!("{dir}/{name}"));
        assert!(
            text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"),
            "{text}"
        );
        let key = PrivateKey::from_openssh(&text).unwrap();
        assert!(!key.is_encrypted(), "{name}: unencrypted");
        assert_eq!(
            key.algorithm(),
            Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP384
            }
        );
        assert_eq!(key.comment(), *name);
        #[cfg(unix)]
        assert_eq!(
            mode(&format!("{dir}/{name}")),
            0o600,
            "{name}: private key mode"
        );
        let derived = key.public_key().to_openssh().unwrap();
        let pub_text = read(&format!("{dir}/{name}.pub"));
        assert_eq!(
            pub_text.trim_end(),
            derived,
            "{name}: .pub = derived public key"
        );
        assert!(
            pub_text.starts_with("ecdsa-sha2-nistp384 AAAA")
                && pub_text.ends_with(&format!(" {name}\n")),
            "{pub_text}"
        );
        let public = PublicKey::from_openssh(&pub_text).unwrap();
        assert_eq!(public.key_data(), key.public_key().key_data());
        assert_eq!(lines[i], derived, "authorized-supernodes.txt line {i}");
        assert_eq!(
            read(&format!("{kit}/superlink/supernode-keys/{name}.pub")),
            pub_text
        );
        let fp = public.fingerprint(HashAlg::Sha256).to_string();
        let site = &record["sites"][i];
        assert_eq!(site["name"], *name);
        assert_eq!(site["fingerprint"], fp.as_str());
        assert_eq!(site["private_key"], format!("sites/{name}/{name}").as_str());
        fingerprints.push(fp);
    }
    fingerprints
}

/// Certificates through `openssl`: chain, SANs, key usage, key type, key ↔ certificate.
fn check_certificates(kit: &str) {
    let sl = format!("{kit}/superlink");
    let (ca, cert, key) = (
        format!("{sl}/ca.crt"),
        format!("{sl}/server.pem"),
        format!("{sl}/server.key"),
    );
    let Some(verify) = openssl(&["verify", "-CAfile", &ca, &cert]) else {
        println!("skipped: the certificate checks need the `openssl` command, not found");
        return;
    };
    assert!(verify.trim_end().ends_with(": OK"), "{verify}");
    let san = openssl(&["x509", "-in", &cert, "-noout", "-ext", "subjectAltName"]).unwrap();
    for entry in [
        "DNS:localhost",
        "IP Address:127.0.0.1",
        "DNS:link.example.org",
        "IP Address:0:0:0:0:0:0:0:1",
    ] {
        assert!(san.contains(entry), "{entry} in {san}");
    }
    assert_eq!(san.matches(", ").count(), 3, "exactly 4 SANs: {san}");
    let eku = openssl(&["x509", "-in", &cert, "-noout", "-ext", "extendedKeyUsage"]).unwrap();
    assert!(eku.contains("TLS Web Server Authentication"), "{eku}");
    let basic = openssl(&["x509", "-in", &ca, "-noout", "-ext", "basicConstraints"]).unwrap();
    assert!(basic.contains("CA:TRUE"), "{basic}");
    // 30 days: valid now and in 29 days, not in 31
    assert!(openssl(&["x509", "-in", &cert, "-noout", "-checkend", "2505600"]).is_some());
    let expired = Command::new("openssl")
        .args(["x509", "-in", &cert, "-noout", "-checkend", "2678400"])
        .output()
        .unwrap();
    assert!(!expired.status.success(), "not valid beyond --days 30");
    let text = openssl(&["pkey", "-in", &key, "-noout", "-text"]).unwrap();
    assert!(
        text.contains("prime256v1") || text.contains("P-256"),
        "{text}"
    );
    let from_key = openssl(&["pkey", "-in", &key, "-pubout"]).unwrap();
    let from_cert = openssl(&["x509", "-in", &cert, "-noout", "-pubkey"]).unwrap();
    assert_eq!(from_key, from_cert, "server.key belongs to server.pem");
}

#[test]
fn provision_writes_a_flower_kit() {
    let t = Tmp::new("provision");
    let kit = t.path("kits");
    succeed(&[
        "fed",
        "provision",
        "--sites",
        &SITES.join(","),
        "--out",
        &kit,
        "--hosts",
        "localhost,127.0.0.1,link.example.org,::1",
        "--days",
        "30",
    ]);
    let record: serde_json::Value =
        serde_json::from_str(&read(&format!("{kit}/provision.json"))).unwrap();
    for f in record["files"].as_array().unwrap() {
        let f = f.as_str().unwrap();
        assert!(Path::new(&kit).join(f).is_file(), "listed file {f} exists");
    }
    assert_eq!(record["validity"]["days"], 30);
    assert_eq!(record["flower_version"], "1.42");
    let hosts: Vec<&str> = record["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["value"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["localhost", "127.0.0.1", "link.example.org", "::1"]);
    let key = read(&format!("{kit}/superlink/server.key"));
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"), "PKCS#8");
    #[cfg(unix)]
    {
        assert_eq!(mode(&format!("{kit}/superlink/server.key")), 0o600);
        assert_eq!(
            mode(&format!("{kit}/superlink/register-supernodes.sh")) & 0o111,
            0o111
        );
    }
    let script = read(&format!("{kit}/superlink/register-supernodes.sh"));
    assert!(
        script.contains("flwr supernode register") && script.contains("for site in a site-b C_3;"),
        "{script}"
    );
    let readme = read(&format!("{kit}/README.txt"));
    for needle in [
        "--ssl-ca-certfile ca.crt --ssl-certfile server.pem",
        "--enable-supernode-auth",
        "register-supernodes.sh",
        "--root-certificates ca.crt",
        "--auth-supernode-private-key a",
    ] {
        assert!(readme.contains(needle), "{needle} in README.txt");
    }
    let fingerprints = check_site_keys(&kit, &record);
    let distinct: std::collections::BTreeSet<_> = fingerprints.iter().collect();
    assert_eq!(distinct.len(), SITES.len(), "one key per site");
    check_certificates(&kit);
    // no temporary files left behind by the atomic writes
    for dir in ["", "superlink", "sites/a"] {
        for e in std::fs::read_dir(Path::new(&kit).join(dir)).unwrap() {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!n.ends_with(".tmp"), "{dir}/{n}");
        }
    }

    // an existing, non-empty --out is refused, and left as it was
    fails(
        &["fed", "provision", "--sites", "a", "--out", &kit],
        "is not empty",
    );
    assert_eq!(
        read(&format!("{kit}/sites/a/a.pub")).trim_end(),
        read(&format!("{kit}/superlink/authorized-supernodes.txt"))
            .lines()
            .next()
            .unwrap()
    );
    // --force replaces the kit's files with fresh keys
    let old_pub = read(&format!("{kit}/sites/a/a.pub"));
    let old_ca = read(&format!("{kit}/superlink/ca.crt"));
    succeed(&[
        "fed",
        "provision",
        "--sites",
        &SITES.join(","),
        "--out",
        &kit,
        "--hosts",
        "localhost,127.0.0.1,link.example.org,::1",
        "--days",
        "30",
        "--force",
    ]);
    assert_ne!(read(&format!("{kit}/sites/a/a.pub")), old_pub);
    assert_ne!(read(&format!("{kit}/superlink/ca.crt")), old_ca);
    let record: serde_json::Value =
        serde_json::from_str(&read(&format!("{kit}/provision.json"))).unwrap();
    check_site_keys(&kit, &record);
    check_certificates(&kit);
    // the new certificate does not verify against the replaced CA (so `openssl verify` above
    // checks the signature, not just the format)
    let old_ca_path = t.path("old-ca.crt");
    std::fs::write(&old_ca_path, &old_ca).unwrap();
    if let Ok(o) = Command::new("openssl")
        .args(["verify", "-CAfile", &old_ca_path])
        .arg(format!("{kit}/superlink/server.pem"))
        .output()
    {
        assert!(!o.status.success(), "verified against another CA");
    }
}

#[test]
fn provision_errors_name_the_flag_and_value() {
    let t = Tmp::new("provision-errors");
    let out = t.path("kits");
    let run = |extra: &[&str], needle: &str| {
        let mut a = vec!["fed", "provision", "--out", &out];
        a.extend(extra);
        fails(&a, needle);
        assert!(!Path::new(&out).exists(), "{extra:?}: nothing written");
    };
    run(
        &["--sites", "a,b,a"],
        "--sites \"a,b,a\": duplicate site name \"a\"",
    );
    run(&["--sites", "a,B,b"], "duplicate site name \"b\"");
    run(&["--sites", "a,,b"], "--sites \"a,,b\": empty site name");
    run(&["--sites", ""], "--sites \"\": empty site name");
    run(
        &["--sites", "a,../x"],
        "--sites: \"../x\" is not a safe file name",
    );
    run(
        &["--sites", "a/b"],
        "--sites: \"a/b\" is not a safe file name",
    );
    run(
        &["--sites", "a.pub"],
        "--sites: \"a.pub\" is not a safe file name",
    );
    run(
        &["--sites", "a", "--hosts", "localhost,x.org:9093"],
        "--hosts: \"x.org:9093\" is neither an IP address nor a DNS host name",
    );
    run(
        &["--sites", "a", "--hosts", "999.1.1.1"],
        "--hosts: \"999.1.1.1\"",
    );
    run(
        &["--sites", "a", "--hosts", "localhost,"],
        "--hosts \"localhost,\": empty entry",
    );
    run(
        &["--sites", "a", "--hosts", "localhost,127.0.0.1,localhost"],
        "\"localhost\" is given twice",
    );
    run(
        &["--sites", "a", "--days", "0"],
        "--days 0: must be between 1 and",
    );
    // --out a file
    let file = t.path("file");
    std::fs::write(&file, "x").unwrap();
    fails(
        &["fed", "provision", "--sites", "a", "--out", &file],
        "exists and is not a directory",
    );
    // an existing empty directory is fine
    std::fs::create_dir_all(&out).unwrap();
    succeed(&["fed", "provision", "--sites", "a", "--out", &out]);
    fails(
        &["fed", "provision", "--sites", "a", "--out", &out],
        &format!("--out {out}: exists and is not empty (pass --force"),
    );
}
