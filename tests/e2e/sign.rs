//! `--sign` and `verify --key` through the built binary against the real registry: keys made
//! by openssl (SEC1, PKCS#8) and a cosign-encrypted key made by PyPI's pynacl; what was stored
//! checked by independent implementations (Python's `cryptography` for ECDSA over the exact
//! payload bytes, `securesystemslib` for the DSSE envelopes), and tampering that must make
//! `verify --key` exit 1. The Python tools go into a venv under the target folder, installed
//! from PyPI when missing (as `scripts/services.sh` installs the SPDX validator).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sdkimage::output::EventKind;

use crate::support::{Repo, checked_text, read_metadata};

/// The checker and tamperer, run by the venv's Python: `verify HOST PATH DIGEST PUB` prints
/// the predicate types of the attestations after checking every signature and envelope;
/// `flip`, `copy` and `delete` change what the registry holds; `enckey` writes cosign's
/// encrypted key.
const PY: &str = r#"
import base64, hashlib, json, os, sys, urllib.request
MANIFEST = "application/vnd.oci.image.manifest.v1+json"

def req(method, url, body=None, headers=None):
    r = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    return urllib.request.urlopen(r)

def manifest(host, path, ref):
    r = req("GET", f"http://{host}/v2/{path}/manifests/{ref}", headers={"Accept": MANIFEST})
    return json.loads(r.read())

def blob(host, path, digest):
    return req("GET", f"http://{host}/v2/{path}/blobs/{digest}").read()

def upload(host, path, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    loc = req("POST", f"http://{host}/v2/{path}/blobs/uploads/").headers["Location"]
    if loc.startswith("/"):
        loc = f"http://{host}{loc}"
    sep = "&" if "?" in loc else "?"
    req("PUT", f"{loc}{sep}digest={digest}", body=data, headers={"Content-Type": "application/octet-stream"})
    return digest

def put_manifest(host, path, tag, m):
    req("PUT", f"http://{host}/v2/{path}/manifests/{tag}", body=json.dumps(m).encode(), headers={"Content-Type": MANIFEST})

def tag(digest, kind):
    return digest.replace(":", "-", 1) + "." + kind

cmd = sys.argv[1]
if cmd == "verify":
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey
    host, path, digest, pub = sys.argv[2:6]
    public = serialization.load_pem_public_key(open(pub, "rb").read())
    sig = manifest(host, path, tag(digest, "sig"))
    assert sig["mediaType"] == MANIFEST, sig
    layer = sig["layers"][0]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json", layer
    payload = blob(host, path, layer["digest"])
    signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    public.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    simple = json.loads(payload)
    assert simple["critical"]["image"]["docker-manifest-digest"] == digest, simple
    assert simple["critical"]["type"] == "cosign container image signature", simple
    assert simple["critical"]["identity"]["docker-reference"] == f"{host}/{path}", simple
    k = SSlibKey.from_crypto(public, scheme="ecdsa-sha2-nistp256")
    key = SSlibKey("", k.keytype, k.scheme, k.keyval)
    kinds = []
    for layer in manifest(host, path, tag(digest, "att"))["layers"]:
        assert layer["mediaType"] == "application/vnd.dsse.envelope.v1+json", layer
        env = Envelope.from_dict(json.loads(blob(host, path, layer["digest"])))
        env.verify([key], 1)
        statement = json.loads(env.payload)
        assert env.payload_type == "application/vnd.in-toto+json"
        assert any(s["digest"]["sha256"] == digest.split(":")[1] for s in statement["subject"]), statement
        assert layer["annotations"]["predicateType"] == statement["predicateType"]
        kinds.append(statement["predicateType"])
    print(json.dumps(sorted(kinds)))
elif cmd == "flip":
    host, path, digest = sys.argv[2:5]
    m = manifest(host, path, tag(digest, "sig"))
    for layer in m["layers"]:
        data = bytearray(blob(host, path, layer["digest"]))
        data[-3] ^= 1
        layer["digest"] = upload(host, path, bytes(data))
        layer["size"] = len(data)
    put_manifest(host, path, tag(digest, "sig"), m)
elif cmd == "copy":
    host, src_path, src_digest, path, digest = sys.argv[2:7]
    m = manifest(host, src_path, tag(src_digest, "sig"))
    for d in [m["config"]] + m["layers"]:
        upload(host, path, blob(host, src_path, d["digest"]))
    put_manifest(host, path, tag(digest, "sig"), m)
elif cmd == "delete":
    host, path, digest = sys.argv[2:5]
    r = req("HEAD", f"http://{host}/v2/{path}/manifests/{tag(digest, 'sig')}", headers={"Accept": MANIFEST})
    req("DELETE", f"http://{host}/v2/{path}/manifests/{r.headers['Docker-Content-Digest']}")
elif cmd == "enckey":
    import nacl.secret
    der, password, out = open(sys.argv[2], "rb").read(), sys.argv[3], sys.argv[4]
    salt, nonce = os.urandom(32), os.urandom(24)
    key = hashlib.scrypt(password.encode(), salt=salt, n=32768, r=8, p=1, maxmem=64 * 1024 * 1024, dklen=32)
    box = nacl.secret.SecretBox(key).encrypt(der, nonce).ciphertext
    data = {"kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": base64.b64encode(salt).decode()},
            "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
            "ciphertext": base64.b64encode(box).decode()}
    body = base64.b64encode(json.dumps(data).encode()).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    open(out, "w").write("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
"#;

/// The venv's Python with `cryptography`, `securesystemslib` and `pynacl`, installed from PyPI
/// once per machine (under the target folder).
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/sign-tools");
        let python = venv.join("bin/python");
        let ready = |p: &Path| {
            Command::new(p)
                .args(["-c", "import cryptography, securesystemslib, nacl"])
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ready(&python) {
            let made = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3");
            assert!(
                made.success(),
                "python3 -m venv {} failed (install python3-venv)",
                venv.display()
            );
            let pip = Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "--disable-pip-version-check"])
                .args(["cryptography==46.*", "securesystemslib==1.*", "pynacl==1.*"])
                .status()
                .expect("pip");
            assert!(
                pip.success(),
                "pip install of the signature checkers failed"
            );
        }
        python
    })
}

/// The Python helper with `args`; its stdout, or a panic with its stderr.
fn py(args: &[&str]) -> String {
    checked_text(Command::new(python()).arg("-c").arg(PY).args(args))
}

fn openssl(args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl {args:?}");
}

/// A key pair in `dir`: `<name>.pem` (SEC1, from `openssl ecparam -genkey`) and `<name>.pub`.
fn key_pair(dir: &Path, name: &str) -> (String, String) {
    let key = dir.join(format!("{name}.pem")).display().to_string();
    let public = dir.join(format!("{name}.pub")).display().to_string();
    openssl(&["ecparam", "-genkey", "-name", "prime256v1", "-out", &key]);
    openssl(&["ec", "-in", &key, "-pubout", "-out", &public]);
    (key, public)
}

/// `host` and `path` of a reference `host/path:tag`.
fn split(reference: &str) -> (String, String) {
    let (repository, _) = reference.rsplit_once(':').unwrap();
    let (host, path) = repository.split_once('/').unwrap();
    (host.to_string(), path.to_string())
}

#[test]
fn signed_images_verify_independently_and_tampering_fails_verify() {
    let repo = Repo::in_registry("beam");
    let (key, public) = key_pair(repo.path(), "release");
    let (_, wrong) = key_pair(repo.path(), "other");
    // The workspace names the key; --sign-key is not needed.
    let settings = std::fs::read_to_string(repo.file("Cargo.toml")).unwrap();
    let settings = settings.replace(
        "[workspace.metadata.sdkimage]",
        "[workspace.metadata.sdkimage]\nsign-key = \"release.pem\"",
    );
    repo.write("Cargo.toml", &settings);
    let meta = repo.file("meta.json");
    let run = repo.run(&[
        "build",
        "go",
        "--tag",
        "1.0",
        "--push",
        "--sign",
        "--metadata-file",
        meta.to_str().unwrap(),
        "--message-format",
        "json",
        "--progress",
        "none",
    ]);
    run.success();
    let metadata = read_metadata(&meta);
    let pushed = run.events_of(EventKind::PushFinished);
    assert!(pushed.len() >= 2, "go and its base");
    for event in &pushed {
        let name = event.image().unwrap().to_string();
        let digest = event.digest().unwrap().to_string();
        let entry = &metadata[&name];
        assert_eq!(entry.signatures.len(), 1, "{name}: {:?}", entry.signatures);
        assert_eq!(entry.signatures[0].subject, digest);
        let (host, path) = split(&entry.refs[0]);
        let sig_tag = format!("{}.sig", digest.replace(':', "-"));
        assert_eq!(
            crate::support::RegistryApi::digest(&format!("{host}/{path}:{sig_tag}")).as_deref(),
            Some(entry.signatures[0].signature.as_str())
        );
        // Independent checks: ECDSA over the stored payload bytes, DSSE envelopes.
        let kinds = py(&["verify", &host, &path, &digest, &public]);
        assert!(kinds.contains("https://slsa.dev/provenance/v1"), "{kinds}");
        // The key never reaches the metadata file.
        let key_text = std::fs::read_to_string(&key).unwrap();
        let body = key_text.lines().nth(4).unwrap();
        assert!(!std::fs::read_to_string(&meta).unwrap().contains(body));
    }
    repo.run(&[
        "verify",
        "go",
        "--tag",
        "1.0",
        "--key",
        &public,
        "--attestations",
    ])
    .success();
    // Verified from the metadata file too, no local image needed.
    repo.run(&[
        "verify",
        "--from-metadata",
        meta.to_str().unwrap(),
        "--key",
        &public,
    ])
    .success();
    // A wrong public key.
    let run = repo.run(&["verify", "go", "--tag", "1.0", "--key", &wrong]);
    run.expect_code(1);
    run.assert_stderr_contains("verifies with the key");

    let go = pushed
        .iter()
        .find(|e| e.image().unwrap().ends_with("go_sdk"))
        .unwrap();
    let base = pushed
        .iter()
        .find(|e| !e.image().unwrap().ends_with("go_sdk"))
        .unwrap();
    let go_ref = metadata[go.image().unwrap()].refs[0].clone();
    let base_ref = metadata[base.image().unwrap()].refs[0].clone();
    let (host, go_path) = split(&go_ref);
    let (_, base_path) = split(&base_ref);
    let go_digest = go.digest().unwrap().to_string();
    let base_digest = base.digest().unwrap().to_string();
    let verify_go = || repo.run(&["verify", "go", "--tag", "1.0", "--key", &public]);

    // A signature for another digest copied onto this one.
    py(&[
        "copy",
        &host,
        &base_path,
        &base_digest,
        &go_path,
        &go_digest,
    ]);
    let run = verify_go();
    run.expect_code(1);
    run.assert_stderr_contains(&format!("names {base_digest}, not {go_digest}"));
    run.assert_stderr_contains(&go_ref);
    // Signed again: valid again.
    repo.run(&["push", "go", "--tag", "1.0", "--sign", "--progress", "none"])
        .success();
    verify_go().success();

    // A flipped byte in the payload.
    py(&["flip", &host, &go_path, &go_digest]);
    let run = verify_go();
    run.expect_code(1);
    run.assert_stderr_contains("signature(s) verifies with the key");

    // A deleted .sig tag.
    py(&["delete", &host, &go_path, &go_digest]);
    let run = verify_go();
    run.expect_code(1);
    run.assert_stderr_contains("no signature");
}

#[test]
fn a_two_platform_image_signed_with_a_cosign_key_verifies_index_children_and_promoted_tags() {
    let repo = Repo::in_registry("beam");
    let (plain, public) = key_pair(repo.path(), "release");
    // cosign's encrypted key, written by pynacl and Python's scrypt, not by our code.
    let der = repo.file("release.der").display().to_string();
    openssl(&[
        "pkcs8", "-topk8", "-nocrypt", "-in", &plain, "-outform", "DER", "-out", &der,
    ]);
    let encrypted = repo.file("cosign.key").display().to_string();
    py(&["enckey", &der, "s3cret", &encrypted]);
    repo.add_two_platform_busybox_image("");
    let build = [
        "build",
        "multi",
        "--tag",
        "1.0",
        "--push",
        "--sign",
        "--sign-key",
        &encrypted,
        "--message-format",
        "json",
        "--progress",
        "none",
    ];
    // A wrong password is bad input, before anything is built.
    let run = repo.run_with(&build, &[("COSIGN_PASSWORD", "nope")]);
    run.expect_code(2);
    run.assert_stderr_contains("wrong password");
    assert!(!run.stderr().contains("nope"));
    let run = repo.run_with(&build, &[("COSIGN_PASSWORD", "s3cret")]);
    run.success();
    let index = run.events_of(EventKind::PushFinished)[0]
        .digest()
        .unwrap()
        .to_string();
    let reference = repo.image_ref("multi", "1.0");
    let (host, path) = split(&reference);
    let manifest: serde_json::Value =
        serde_json::from_str(&crate::support::curl_manifest(&host, &path, &index)).unwrap();
    let children: Vec<String> = manifest["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(children.len(), 2);
    for digest in std::iter::once(&index).chain(&children) {
        let kinds = py(&["verify", &host, &path, digest, &public]);
        assert!(
            kinds.contains("https://slsa.dev/provenance/v1"),
            "{digest}: {kinds}"
        );
    }
    repo.run(&[
        "verify",
        "multi",
        "--tag",
        "1.0",
        "--key",
        &public,
        "--attestations",
    ])
    .success();
    // promote keeps the digests, so the signatures hold for the promoted tag.
    repo.run(&["promote", "multi", "--from-tag", "1.0", "--tag", "stable"])
        .success();
    repo.run(&[
        "verify",
        "multi",
        "--tag",
        "stable",
        "--key",
        &public,
        "--attestations",
    ])
    .success();
    // An unsigned child fails, naming it.
    py(&["delete", &host, &path, &children[1]]);
    let run = repo.run(&["verify", "multi", "--tag", "stable", "--key", &public]);
    run.expect_code(1);
    run.assert_stderr_contains(&children[1]);
    // promote --sign signs again (the same bytes: RFC 6979).
    repo.run_with(
        &[
            "promote",
            "multi",
            "--from-tag",
            "1.0",
            "--tag",
            "stable",
            "--sign",
            "--sign-key",
            &plain,
        ],
        &[],
    )
    .success();
    repo.run(&["verify", "multi", "--tag", "stable", "--key", &public])
        .success();
}

/// `sign-key` in the workspace settings: a problem names its `file:line:col`, before anything
/// is built; `--sign` without any key says where to give one.
#[test]
fn a_bad_sign_key_setting_is_named_at_its_place_before_anything_is_built() {
    let repo = Repo::in_registry("beam");
    let settings = std::fs::read_to_string(repo.file("Cargo.toml")).unwrap();
    let push = [
        "build",
        "go",
        "--tag",
        "1.0",
        "--push",
        "--sign",
        "--progress",
        "none",
    ];
    let run = repo.run(&push);
    run.expect_code(2);
    run.assert_stderr_contains("--sign needs a key");
    let with = |value: &str| {
        settings.replace(
            "[workspace.metadata.sdkimage]",
            &format!("[workspace.metadata.sdkimage]\nsign-key = {value}"),
        )
    };
    repo.write("Cargo.toml", &with("\"\""));
    let run = repo.run(&["list"]);
    run.expect_code(2);
    run.assert_stderr_contains("Cargo.toml:12:12: sign-key is empty");
    repo.write("Cargo.toml", &with("\"absent.pem\""));
    repo.run(&["list"]).success();
    let run = repo.run(&push);
    run.expect_code(2);
    run.assert_stderr_contains("Cargo.toml:12:12: sign-key \"absent.pem\": cannot read");
    assert!(run.events_of(EventKind::BuildFinished).is_empty());
    // A key of another curve.
    openssl(&[
        "ecparam",
        "-genkey",
        "-name",
        "secp384r1",
        "-out",
        repo.file("p384.pem").to_str().unwrap(),
    ]);
    let run = repo.run(&[
        "push",
        "go",
        "--tag",
        "1.0",
        "--sign",
        "--sign-key",
        "p384.pem",
        "--progress",
        "none",
    ]);
    run.expect_code(2);
    run.assert_stderr_contains("not an EC P-256");
}

/// An image built with its licenses gets its SPDX document as a signed attestation.
#[test]
fn an_image_built_with_licenses_carries_its_sbom_as_a_signed_attestation() {
    let (mut repo, _) = crate::licenses::licensed_repo();
    repo.root = format!("{}/{}", crate::support::test_registry(), repo.root);
    let (key, public) = key_pair(repo.path(), "release");
    let run = repo.run_with(
        &[
            "build",
            "--pull-licenses",
            "--tag",
            "t",
            "--push",
            "--sign",
            "--sign-key",
            &key,
            "--message-format",
            "json",
            "--progress",
            "none",
        ],
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    );
    run.success();
    let pushed = run.events_of(EventKind::PushFinished);
    let licensed = pushed
        .iter()
        .find(|e| e.image() == Some("licensed_sdk"))
        .expect("licensed_sdk pushed");
    let digest = licensed.digest().unwrap().to_string();
    let (host, path) = split(&repo.image_ref("licensed_sdk", "t"));
    let kinds = py(&["verify", &host, &path, &digest, &public]);
    assert!(kinds.contains("https://spdx.dev/Document"), "{kinds}");
    assert!(kinds.contains("https://slsa.dev/provenance/v1"), "{kinds}");
    repo.run(&[
        "verify",
        "licensed_sdk",
        "--tag",
        "t",
        "--key",
        &public,
        "--attestations",
    ])
    .success();
}
