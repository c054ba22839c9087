//! `fedrecon fed provision`: the TLS and node-authentication files of a Flower 1.42 deployment.
//!
//! Writes, under `--out`:
//! - `superlink/`: `ca.crt` (a self-signed CA), `server.pem` + `server.key` (the SuperLink's TLS
//!   certificate, signed by that CA, with a SubjectAltName per `--hosts` entry; ECDSA P-256, the
//!   key as PEM PKCS#8), `authorized-supernodes.txt` (one OpenSSH public key line per site, the
//!   site name as comment), `supernode-keys/<site>.pub` and `register-supernodes.sh` (runs
//!   `flwr supernode register <key.pub> <connection>` for every site: Flower 1.42 keeps the
//!   authorised keys in the SuperLink's state, its `--auth-list-public-keys` flag is gone);
//! - `sites/<site>/`: `ca.crt` (the same CA, to verify the SuperLink), `<site>` (the SuperNode's
//!   ECDSA nistp384 key in OpenSSH format, unencrypted, mode 0600: `flower-supernode
//!   --auth-supernode-private-key` loads it with `cryptography`'s `load_ssh_private_key` and needs
//!   an elliptic-curve key) and `<site>.pub`;
//! - `provision.json` (what was written: paths, hosts, SHA-256 fingerprints, validity) and
//!   `README.txt` (which directory goes to which machine, and the commands).
//!
//! Every key comes from the OS generator (`ring`'s `SystemRandom` for the X.509 keys, `getrandom`
//! for the SSH keys). The CA's private key is used once and never written: adding a host means a
//! new kit; adding a site needs only a new key pair registered with the SuperLink.

use anyhow::{Context, Result, bail};
use clap::Args as ClapArgs;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use serde_json::json;
use ssh_key::sha2::{Digest, Sha256};
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, LineEnding, PrivateKey};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// The Flower version whose file formats and commands the kit follows.
const FLOWER_VERSION: &str = "1.42";
/// Longest accepted validity (`--days`).
const MAX_DAYS: u32 = 36_500;
/// Longest accepted site name (it becomes a directory, a file name and a key comment).
const MAX_NAME_LEN: usize = 64;

/// `fed provision` arguments.
#[derive(Debug, ClapArgs)]
pub struct ProvisionArgs {
    /// Comma-separated site names (one SuperNode each): letters, digits, `-` and `_`, starting
    /// with a letter or digit, at most 64 characters, unique ignoring case.
    #[arg(long, value_name = "NAME,NAME,...")]
    pub sites: String,
    /// Output directory (must be absent or empty unless `--force`).
    #[arg(long)]
    pub out: PathBuf,
    /// Comma-separated host names and IP addresses the SuperLink is reached at: each becomes a
    /// SubjectAltName of its certificate (DNS names as DNS, addresses as IP entries).
    #[arg(
        long,
        default_value = "localhost,127.0.0.1",
        value_name = "HOST,HOST,..."
    )]
    pub hosts: String,
    /// Validity of the certificates in days (from one hour before now, for clock skew).
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Write into a non-empty `--out`, replacing the kit's files there (other files are kept).
    #[arg(long)]
    pub force: bool,
}

/// One SubjectAltName of the SuperLink certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Dns(String),
    Ip(IpAddr),
}

impl Host {
    fn as_json(&self) -> serde_json::Value {
        match self {
            Host::Dns(d) => json!({"type": "dns", "value": d}),
            Host::Ip(ip) => json!({"type": "ip", "value": ip.to_string()}),
        }
    }

    fn text(&self) -> String {
        match self {
            Host::Dns(d) => d.clone(),
            Host::Ip(ip) => ip.to_string(),
        }
    }
}

/// The site names of `--sites`, checked.
fn parse_sites(list: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut seen = BTreeSet::new();
    for raw in list.split(',') {
        let name = raw.trim();
        if name.is_empty() {
            bail!("--sites {list:?}: empty site name (names are separated by single commas)");
        }
        let ok_chars = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let ok_start = name.starts_with(|c: char| c.is_ascii_alphanumeric());
        if !ok_chars || !ok_start || name.len() > MAX_NAME_LEN {
            bail!(
                "--sites: {name:?} is not a safe file name (use letters, digits, '-' and '_', \
                 starting with a letter or digit, at most {MAX_NAME_LEN} characters)"
            );
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            bail!(
                "--sites {list:?}: duplicate site name {name:?} (names are compared ignoring case)"
            );
        }
        names.push(name.to_string());
    }
    Ok(names)
}

/// Whether `s` is a DNS host name: dot-separated labels of letters, digits and inner hyphens,
/// 1–63 characters each, 253 in all (RFC 1123), not all-numeric at the top level.
fn is_dns_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = s.split('.').collect();
    let labels_ok = labels.iter().all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    // "1.2.3" or "300.1.1.1" would be a mistyped address, not a host name
    let tld_numeric = labels
        .last()
        .is_some_and(|l| l.chars().all(|c| c.is_ascii_digit()));
    labels_ok && !tld_numeric
}

/// The SuperLink's host names and addresses of `--hosts`, checked.
fn parse_hosts(list: &str) -> Result<Vec<Host>> {
    let mut hosts = Vec::new();
    for raw in list.split(',') {
        let entry = raw.trim();
        if entry.is_empty() {
            bail!("--hosts {list:?}: empty entry (entries are separated by single commas)");
        }
        // `[::1]` as users write IPv6 in addresses
        let bare = entry
            .strip_prefix('[')
            .and_then(|e| e.strip_suffix(']'))
            .unwrap_or(entry);
        let host = if let Ok(ip) = bare.parse::<IpAddr>() {
            Host::Ip(ip)
        } else if is_dns_name(entry) {
            Host::Dns(entry.trim_end_matches('.').to_ascii_lowercase())
        } else {
            bail!(
                "--hosts: {entry:?} is neither an IP address nor a DNS host name (no ports, \
                 schemes or wildcards: e.g. localhost,127.0.0.1,link.example.org)"
            );
        };
        if hosts.contains(&host) {
            bail!("--hosts {list:?}: {entry:?} is given twice");
        }
        hosts.push(host);
    }
    Ok(hosts)
}

/// `--out` may be written to: absent, an empty directory, or any directory with `--force`.
fn check_out(out: &Path, force: bool) -> Result<()> {
    match std::fs::metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("--out {}", out.display())),
        Ok(m) if !m.is_dir() => bail!("--out {}: exists and is not a directory", out.display()),
        Ok(_) => {
            let non_empty = std::fs::read_dir(out)
                .with_context(|| format!("--out {}: reading the directory", out.display()))?
                .next()
                .is_some();
            if non_empty && !force {
                bail!(
                    "--out {}: exists and is not empty (pass --force to replace the kit's files \
                     there)",
                    out.display()
                );
            }
            Ok(())
        }
    }
}

/// A file of the kit, before it is written.
struct KitFile {
    /// Path relative to `--out`.
    rel: String,
    bytes: Vec<u8>,
    /// Unix mode: 0o600 for private keys, 0o755 for the script, 0o644 otherwise.
    mode: u32,
}

impl KitFile {
    fn new(rel: String, bytes: impl Into<Vec<u8>>, mode: u32) -> Self {
        KitFile {
            rel,
            bytes: bytes.into(),
            mode,
        }
    }
}

/// Lower-case hex of SHA-256.
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The CA and the SuperLink's certificate and key, all PEM.
struct Tls {
    ca_pem: String,
    ca_der_sha256: String,
    server_pem: String,
    server_der_sha256: String,
    server_key_pem: String,
}

fn make_tls(hosts: &[Host], not_before: OffsetDateTime, not_after: OffsetDateTime) -> Result<Tls> {
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("generating the CA key")?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "fedrecon federation CA");
    ca.distinguished_name
        .push(DnType::OrganizationName, "fedrecon");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_cert = ca
        .self_signed(&ca_key)
        .context("signing the CA certificate")?;

    let server_key =
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("generating the SuperLink key")?;
    let mut server = CertificateParams::default();
    server.distinguished_name = DistinguishedName::new();
    server
        .distinguished_name
        .push(DnType::CommonName, hosts[0].text());
    server
        .distinguished_name
        .push(DnType::OrganizationName, "fedrecon");
    server.subject_alt_names = hosts
        .iter()
        .map(|h| {
            Ok(match h {
                Host::Dns(d) => SanType::DnsName(
                    d.clone()
                        .try_into()
                        .with_context(|| format!("--hosts: {d:?} as a DNS name"))?,
                ),
                Host::Ip(ip) => SanType::IpAddress(*ip),
            })
        })
        .collect::<Result<_>>()?;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    server.not_before = not_before;
    server.not_after = not_after;
    let issuer = Issuer::from_params(&ca, &ca_key);
    let server_cert = server
        .signed_by(&server_key, &issuer)
        .context("signing the SuperLink certificate")?;
    Ok(Tls {
        ca_pem: ca_cert.pem(),
        ca_der_sha256: sha256_hex(ca_cert.der()),
        server_pem: server_cert.pem(),
        server_der_sha256: sha256_hex(server_cert.der()),
        server_key_pem: server_key.serialize_pem(),
    })
}

/// A site's SuperNode key pair in OpenSSH format.
struct SiteKey {
    private_openssh: String,
    public_line: String,
    fingerprint: String,
}

fn make_site_key(name: &str) -> Result<SiteKey> {
    let mut key = PrivateKey::random(
        &mut ssh_key::rand_core::OsRng,
        Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP384,
        },
    )
    .with_context(|| format!("generating the key of site {name:?}"))?;
    key.set_comment(name);
    let private_openssh = key
        .to_openssh(LineEnding::LF)
        .with_context(|| format!("encoding the key of site {name:?}"))?
        .to_string();
    let public = key.public_key();
    let public_line = public
        .to_openssh()
        .with_context(|| format!("encoding the public key of site {name:?}"))?;
    Ok(SiteKey {
        private_openssh,
        public_line,
        fingerprint: public.fingerprint(HashAlg::Sha256).to_string(),
    })
}

/// The SuperLink admin's script: `flwr supernode register` for every site's key.
fn register_script(sites: &[String]) -> String {
    let list = sites.join(" ");
    format!(
        r#"#!/bin/sh
# Register the kit's SuperNode keys with a running SuperLink (Flower {FLOWER_VERSION}, started with
# --enable-supernode-auth). Written by `fedrecon fed provision`.
#
#   ./register-supernodes.sh <superlink-connection>
#
# <superlink-connection> names a [superlink.<name>] table of the flwr CLI's config.toml
# ($FLWR_HOME/config.toml, default ~/.flwr/config.toml) with the SuperLink's address and
# root-certificates = this directory's ca.crt. Needs `flwr` on PATH. A key registered before is
# refused by the SuperLink ("Public key already in use"); the others are still registered, and
# the script exits 1 if any registration failed.
set -u
if [ "$#" -ne 1 ]; then
    echo "usage: $0 <superlink-connection>" >&2
    exit 2
fi
if ! command -v flwr >/dev/null 2>&1; then
    echo "error: flwr is not on PATH (pip install \"flwr=={FLOWER_VERSION}.*\")" >&2
    exit 2
fi
dir=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
failed=0
for site in {list}; do
    echo "registering SuperNode key of site $site" >&2
    # with --format json, flwr exits 0 even on failure: the JSON's "success" tells
    out=$(flwr supernode register "$dir/supernode-keys/$site.pub" "$1" --name "$site" --format json)
    printf '%s\n' "$out"
    case "$out" in
        *'"success": true'*) ;;
        *) echo "error: registering $dir/supernode-keys/$site.pub failed" >&2; failed=1 ;;
    esac
done
exit "$failed"
"#
    )
}

/// `README.txt` of the kit.
fn readme(sites: &[String], hosts: &[Host], not_after: &str) -> String {
    let host = hosts[0].text();
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let hosts_text = hosts.iter().map(Host::text).collect::<Vec<_>>().join(", ");
    let site_list = sites.join(", ");
    let first = &sites[0];
    format!(
        r#"Flower {FLOWER_VERSION} deployment kit written by `fedrecon fed provision`.
SuperLink certificate valid for: {hosts_text} (until {not_after}).
Sites: {site_list}.

WHAT GOES WHERE
  superlink/          -> the SuperLink machine (the coordinator) only.
                         server.key is its TLS private key: keep it there, mode 0600.
  sites/<site>/       -> hospital <site>'s SuperNode machine only, one directory each.
                         <site> is that SuperNode's private key: it never leaves that machine.
  provision.json      -> the record of this kit (SHA-256 of every certificate and public key):
                         compare fingerprints when installing.
  The CA's private key was not kept. To change the SuperLink's host names, write a new kit;
  to add a hospital, register its public key (`flwr supernode register`).

1. ADMIN, on the SuperLink machine, in superlink/ (port 9093 as an example):
     flower-superlink --ssl-ca-certfile ca.crt --ssl-certfile server.pem \
         --ssl-keyfile server.key --enable-supernode-auth --host 0.0.0.0 --port 9093
   then register the hospitals' keys, with a flwr CLI config ($FLWR_HOME/config.toml) of
     [superlink]
     default = "hospitals"
     [superlink.hospitals]
     address = "{host}:9093"
     root-certificates = "/absolute/path/to/superlink/ca.crt"
   and
     ./register-supernodes.sh hospitals

2. EACH HOSPITAL, on its own machine, in sites/<site>/ (here site {first}):
     flower-supernode --superlink {host}:9093 --root-certificates ca.crt \
         --auth-supernode-private-key {first} --node-config 'site-name="{first}"'
   A SuperNode whose key is not registered, or that lacks ca.crt, exits with an error.

3. DATA SCIENTIST: the same config.toml as in 1 (with the SuperLink's ca.crt), then
     flwr run <app-dir> hospitals
"#
    )
}

/// Write `bytes` to `path` atomically with Unix permissions `mode` (set on the temporary file
/// before any byte is written, so a private key is never readable by others).
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    fedrecon_io::write_atomic(path, |w| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            w.get_ref()
                .set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        std::io::Write::write_all(w, bytes)
    })
    .with_context(|| format!("writing {}", path.display()))
}

/// Run `fed provision`.
pub fn run(a: ProvisionArgs) -> Result<()> {
    let sites = parse_sites(&a.sites)?;
    let hosts = parse_hosts(&a.hosts)?;
    if a.days == 0 || a.days > MAX_DAYS {
        bail!("--days {}: must be between 1 and {MAX_DAYS}", a.days);
    }
    check_out(&a.out, a.force)?;

    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .context("truncating the clock to seconds")?;
    let not_before = now - Duration::hours(1);
    let not_after = now + Duration::days(i64::from(a.days));
    let tls = make_tls(&hosts, not_before, not_after)?;
    let keys = sites
        .iter()
        .map(|s| make_site_key(s))
        .collect::<Result<Vec<_>>>()?;

    // everything in memory first: a failure above leaves no half-written kit
    let mut files = vec![
        KitFile::new("superlink/ca.crt".into(), tls.ca_pem.clone(), 0o644),
        KitFile::new("superlink/server.pem".into(), tls.server_pem.clone(), 0o644),
        KitFile::new(
            "superlink/server.key".into(),
            tls.server_key_pem.clone(),
            0o600,
        ),
    ];
    let mut authorized = String::new();
    let mut site_json = Vec::new();
    for (name, key) in sites.iter().zip(&keys) {
        authorized.push_str(&key.public_line);
        authorized.push('\n');
        let public = format!("{}\n", key.public_line);
        files.push(KitFile::new(
            format!("superlink/supernode-keys/{name}.pub"),
            public.clone(),
            0o644,
        ));
        let dir = format!("sites/{name}");
        files.push(KitFile::new(
            format!("{dir}/ca.crt"),
            tls.ca_pem.clone(),
            0o644,
        ));
        files.push(KitFile::new(
            format!("{dir}/{name}"),
            key.private_openssh.clone(),
            0o600,
        ));
        files.push(KitFile::new(format!("{dir}/{name}.pub"), public, 0o644));
        site_json.push(json!({
            "name": name,
            "dir": dir,
            "ca": format!("{dir}/ca.crt"),
            "private_key": format!("{dir}/{name}"),
            "public_key": format!("{dir}/{name}.pub"),
            "key_type": "ecdsa-sha2-nistp384",
            "fingerprint": key.fingerprint,
            "public_key_sha256": sha256_hex(key.public_line.as_bytes()),
        }));
    }
    files.push(KitFile::new(
        "superlink/authorized-supernodes.txt".into(),
        authorized,
        0o644,
    ));
    files.push(KitFile::new(
        "superlink/register-supernodes.sh".into(),
        register_script(&sites),
        0o755,
    ));
    let validity = json!({
        "not_before": rfc3339(not_before),
        "not_after": rfc3339(not_after),
        "days": a.days,
    });
    files.push(KitFile::new(
        "README.txt".into(),
        readme(&sites, &hosts, &rfc3339(not_after)),
        0o644,
    ));
    let record = json!({
        "tool": "fedrecon fed provision",
        "flower_version": FLOWER_VERSION,
        "created": rfc3339(now),
        "validity": validity,
        "hosts": hosts.iter().map(Host::as_json).collect::<Vec<_>>(),
        "superlink": {
            "dir": "superlink",
            "ca": {"path": "superlink/ca.crt", "der_sha256": tls.ca_der_sha256,
                   "key_type": "ECDSA P-256", "private_key_kept": false},
            "certificate": {"path": "superlink/server.pem", "der_sha256": tls.server_der_sha256,
                            "key_type": "ECDSA P-256"},
            "private_key": "superlink/server.key",
            "authorized_supernodes": "superlink/authorized-supernodes.txt",
            "supernode_keys": "superlink/supernode-keys",
            "register_script": "superlink/register-supernodes.sh",
        },
        "sites": site_json,
        "files": files.iter().map(|f| f.rel.clone()).chain(["provision.json".to_string()])
            .collect::<Vec<_>>(),
    });
    files.push(KitFile::new(
        "provision.json".into(),
        serde_json::to_string_pretty(&record)? + "\n",
        0o644,
    ));

    for f in &files {
        let path = a.out.join(&f.rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        write_file(&path, &f.bytes, f.mode)?;
    }
    eprintln!(
        "fed provision: CA, SuperLink certificate for {} and {} site key pair(s) written to {} \
         (see README.txt)",
        hosts.iter().map(Host::text).collect::<Vec<_>>().join(", "),
        sites.len(),
        a.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_names() {
        assert_eq!(parse_sites("a,b-2,C_3").unwrap(), ["a", "b-2", "C_3"]);
        assert_eq!(parse_sites(" a , b ").unwrap(), ["a", "b"]);
        for bad in [
            "",
            "a,,b",
            "a,",
            "../x",
            "a/b",
            ".a",
            "-a",
            "a.b",
            "ä",
            &"x".repeat(65),
        ] {
            let e = parse_sites(bad).unwrap_err().to_string();
            assert!(e.contains("--sites"), "{bad:?}: {e}");
        }
        let e = parse_sites("a,b,A").unwrap_err().to_string();
        assert!(e.contains("duplicate") && e.contains("\"A\""), "{e}");
    }

    #[test]
    fn hosts() {
        assert_eq!(
            parse_hosts("localhost,127.0.0.1,::1,[fe80::1],Link.Example.org.").unwrap(),
            [
                Host::Dns("localhost".into()),
                Host::Ip("127.0.0.1".parse().unwrap()),
                Host::Ip("::1".parse().unwrap()),
                Host::Ip("fe80::1".parse().unwrap()),
                Host::Dns("link.example.org".into()),
            ]
        );
        for bad in [
            "",
            "a,,b",
            "https://x.org",
            "x.org:9093",
            "*.x.org",
            "300.1.1.1",
            "1.2.3",
            "-x.org",
            "a b",
            "localhost,LOCALHOST",
        ] {
            let e = parse_hosts(bad).unwrap_err().to_string();
            assert!(e.contains("--hosts"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn times_format() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20Z");
    }
}
