use std::io::Read;

use super::*;
use crate::oci::archive::tests::{layer_tar, legacy_save};

const EPOCH: u64 = 1_700_000_000;

/// A tar with: a file newer than the epoch (PAX mtime/atime/ctime and an xattr), a file older
/// than it, a long name (GNU long name), a symlink, uid/gid/mode set.
fn sample_layer(newer: u64) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_pax_extensions([
            ("mtime", format!("{newer}.123456789").as_bytes()),
            ("atime", b"1800000000.5".as_slice()),
            ("ctime", b"1800000000.5".as_slice()),
            ("SCHILY.xattr.user.k", b"v".as_slice()),
        ])
        .unwrap();
    let mut header = tar::Header::new_ustar();
    header.set_size(3);
    header.set_mode(0o4755);
    header.set_uid(1234);
    header.set_gid(5678);
    header.set_mtime(newer);
    header.set_cksum();
    builder
        .append_data(&mut header, "usr/bin/new", &b"new"[..])
        .unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_size(3);
    header.set_mode(0o600);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1000);
    header.as_gnu_mut().unwrap().set_atime(newer);
    header.as_gnu_mut().unwrap().set_ctime(newer);
    header.set_cksum();
    let long = format!("var/{}/old", "x".repeat(150));
    builder
        .append_data(&mut header, &long, &b"old"[..])
        .unwrap();
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    header.set_mode(0o777);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(newer);
    header.set_cksum();
    builder
        .append_link(&mut header, "usr/bin/link", "new")
        .unwrap();
    builder.into_inner().unwrap()
}

fn rewritten(input: &[u8], epoch: u64) -> Vec<u8> {
    let mut out = Vec::new();
    rewrite_layer(input, &mut out, epoch).unwrap();
    out
}

/// (path, mtime, uid, gid, mode, pax keys, content) of each entry.
type Seen = (String, u64, u64, u64, u32, Vec<String>, Vec<u8>);

fn entries(tar_bytes: &[u8]) -> Vec<Seen> {
    let mut archive = tar::Archive::new(tar_bytes);
    let mut seen = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let keys = entry
            .pax_extensions()
            .unwrap()
            .map(|p| {
                p.map(|r| {
                    let r = r.unwrap();
                    format!("{}={}", r.key().unwrap(), r.value().unwrap())
                })
                .collect()
            })
            .unwrap_or_default();
        let header = entry.header().clone();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        seen.push((
            path,
            header.mtime().unwrap(),
            header.uid().unwrap(),
            header.gid().unwrap(),
            header.mode().unwrap(),
            keys,
            content,
        ));
    }
    seen
}

#[test]
fn mtimes_after_the_epoch_are_clamped_and_the_rest_kept() {
    let input = sample_layer(EPOCH + 5000);
    let before = entries(&input);
    let after = entries(&rewritten(&input, EPOCH));
    assert_eq!(after.len(), 3);
    // Same entries, same order, same owners, modes and content.
    for (b, a) in before.iter().zip(&after) {
        assert_eq!((&b.0, b.2, b.3, b.4, &b.6), (&a.0, a.2, a.3, a.4, &a.6));
    }
    assert_eq!(after[0].1, EPOCH);
    assert_eq!(after[0].4, 0o4755);
    assert_eq!((after[0].2, after[0].3), (1234, 5678));
    assert_eq!(
        after[0].5,
        vec![
            format!("mtime={EPOCH}"),
            "SCHILY.xattr.user.k=v".to_string()
        ],
        "atime and ctime records go, the xattr stays"
    );
    assert_eq!(after[1].1, 1000, "an older mtime is kept");
    assert!(after[1].0.ends_with("/old") && after[1].0.len() > 150);
    assert_eq!(after[2].1, EPOCH);
    // GNU atime/ctime fields are zeroed.
    let bytes = rewritten(&input, EPOCH);
    let mut archive = tar::Archive::new(&bytes[..]);
    let gnu = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().header().clone())
        .find(|h| h.as_gnu().is_some())
        .unwrap();
    assert_eq!(gnu.as_gnu().unwrap().atime().unwrap(), 0);
    assert_eq!(gnu.as_gnu().unwrap().ctime().unwrap(), 0);
}

#[test]
fn a_layer_older_than_the_epoch_only_loses_access_and_change_times() {
    let input = sample_layer(EPOCH - 10);
    let after = entries(&rewritten(&input, EPOCH));
    assert_eq!(after[0].1, EPOCH - 10);
    assert_eq!(after[0].5[0], format!("mtime={}.123456789", EPOCH - 10));
}

#[test]
fn the_same_content_at_different_times_gives_the_same_bytes() {
    let a = rewritten(&sample_layer(EPOCH + 1), EPOCH);
    let b = rewritten(&sample_layer(EPOCH + 99_999), EPOCH);
    assert_eq!(a, b);
    // And the whole pipeline: same diff id, same compressed digest, in two caches.
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    let input_a = sample_layer(EPOCH + 1);
    let input_b = sample_layer(EPOCH + 99_999);
    let (x, _) = compress_cached(one.path(), "sha256:aa", Some(EPOCH), || {
        Ok(Box::new(std::io::Cursor::new(input_a)))
    })
    .unwrap();
    let (y, blob) = compress_cached(two.path(), "sha256:bb", Some(EPOCH), || {
        Ok(Box::new(std::io::Cursor::new(input_b)))
    })
    .unwrap();
    assert_eq!(
        (&x.diff_id, &x.digest, x.size),
        (&y.diff_id, &y.digest, y.size)
    );
    assert_eq!(x.diff_id, sha256_digest(&a));
    // The blob is a deterministic gzip: no name, mtime 0, and it decompresses to the tar.
    let compressed = std::fs::read(&blob).unwrap();
    assert_eq!(sha256_digest(&compressed), y.digest);
    assert_eq!(&compressed[4..8], &[0, 0, 0, 0], "mtime 0");
    assert_eq!(compressed[3] & 0x08, 0, "no file name");
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, a);
}

#[test]
fn a_cached_layer_is_not_compressed_again() {
    let cache = tempfile::tempdir().unwrap();
    let input = sample_layer(EPOCH + 1);
    let (first, _) = compress_cached(cache.path(), "sha256:aa", Some(EPOCH), || {
        Ok(Box::new(std::io::Cursor::new(input)))
    })
    .unwrap();
    let (again, _) = compress_cached(cache.path(), "sha256:aa", Some(EPOCH), || {
        panic!("the cache should answer")
    })
    .unwrap();
    assert_eq!(first.digest, again.digest);
    // Another epoch is another entry.
    let input = sample_layer(EPOCH + 1);
    let (other, _) = compress_cached(cache.path(), "sha256:aa", Some(EPOCH - 1), || {
        Ok(Box::new(std::io::Cursor::new(input)))
    })
    .unwrap();
    assert_ne!(other.diff_id, first.diff_id);
}

#[test]
fn pax_records_are_length_prefixed_exactly() {
    for value_len in [0, 1, 5, 6, 7, 90, 95, 96, 97, 994, 995, 996, 1000] {
        let value = vec![b'v'; value_len];
        let mut out = Vec::new();
        pax_record(&mut out, b"path", &value);
        let text = String::from_utf8(out.clone()).unwrap();
        let (len, _) = text.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), out.len(), "{value_len}");
        let parsed: Vec<_> = tar::PaxExtensions::new(&out)
            .map(|r| r.unwrap().value_bytes().to_vec())
            .collect();
        assert_eq!(parsed, vec![value]);
    }
}

#[test]
fn config_times_and_diff_ids_are_replaced() {
    let config = br#"{"architecture":"amd64","os":"linux","created":"2026-12-05T10:00:00.123Z",
        "container":"abc","docker_version":"20.10","config":{"Env":["A=1"],"Image":"sha256:parent"},
        "history":[{"created":"2026-12-05T09:00:00Z","created_by":"COPY a"},{"created":"2026-12-05T10:00:00Z","empty_layer":true}],
        "rootfs":{"type":"layers","diff_ids":["sha256:old"]}}"#;
    let out = rewrite_config(config, EPOCH, &["sha256:new".into()]).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(value["created"], "2023-11-14T22:13:20Z");
    assert_eq!(value["history"][0]["created"], "2023-11-14T22:13:20Z");
    assert_eq!(value["history"][1]["created"], "2023-11-14T22:13:20Z");
    assert_eq!(value["history"][0]["created_by"], "COPY a");
    assert_eq!(
        value["rootfs"]["diff_ids"],
        serde_json::json!(["sha256:new"])
    );
    assert_eq!(value["config"]["Env"][0], "A=1");
    assert!(
        value["config"].get("Image").is_none(),
        "the classic builder's parent id goes"
    );
    assert!(value.get("container").is_none() && value.get("docker_version").is_none());
    assert!(rewrite_config(b"[]", EPOCH, &[]).is_err());
}

fn exported(layers: &[Vec<u8>]) -> (tempfile::TempDir, ExportedImage) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.tar");
    std::fs::write(&path, legacy_save(layers)).unwrap();
    let image = ExportedImage::open(&path).unwrap();
    (dir, image)
}

#[test]
fn base_layers_pass_through_and_the_manifest_is_oci() {
    let base = layer_tar("base", b"base");
    let (_d1, one) = exported(&[base.clone(), sample_layer(EPOCH + 10)]);
    let (_d2, two) = exported(&[base.clone(), sample_layer(EPOCH + 20)]);
    assert_ne!(one.diff_ids[1], two.diff_ids[1]);
    let base_layers = [BaseLayer {
        diff_id: sha256_digest(&base),
        descriptor: Some(Descriptor {
            media_type: DOCKER_LAYER_GZIP.into(),
            digest: "sha256:basegz".into(),
            size: 42,
        }),
    }];
    let cache = tempfile::tempdir().unwrap();
    let opts = Options {
        epoch: Some(EPOCH),
        base: &base_layers,
        cache: cache.path(),
    };
    let a = normalize(&one, &opts).unwrap();
    let b = normalize(&two, &opts).unwrap();
    assert_eq!(a.manifest, b.manifest, "same content, same manifest");
    assert!(a.normalized);
    assert_eq!(a.layers[0].diff_id, sha256_digest(&base));
    assert_eq!(a.layers[0].descriptor.digest, "sha256:basegz");
    assert_eq!(a.layers[0].descriptor.media_type, OCI_LAYER_GZIP);
    assert_eq!(a.layers[0].blob, None);
    assert!(a.layers[1].rewritten && !a.layers[0].rewritten);
    let manifest: serde_json::Value = serde_json::from_slice(&a.manifest.bytes).unwrap();
    assert_eq!(manifest["mediaType"], OCI_MANIFEST);
    assert_eq!(manifest["config"]["mediaType"], OCI_CONFIG);
    assert_eq!(manifest["config"]["digest"], sha256_digest(&a.config));
    assert_eq!(
        manifest["layers"][1]["digest"],
        a.layers[1].descriptor.digest
    );
    assert_eq!(a.manifest.digest, sha256_digest(&a.manifest.bytes));
    let config: serde_json::Value = serde_json::from_slice(&a.config).unwrap();
    assert_eq!(config["rootfs"]["diff_ids"][1], a.layers[1].diff_id);

    // A base whose blob is not known: compressed, not rewritten, its diff id kept.
    let unknown = [BaseLayer {
        diff_id: sha256_digest(&base),
        descriptor: None,
    }];
    let c = normalize(
        &one,
        &Options {
            base: &unknown,
            ..opts.clone()
        },
    )
    .unwrap();
    assert_eq!(c.layers[0].diff_id, sha256_digest(&base));
    assert!(c.layers[0].blob.is_some() && !c.layers[0].rewritten);

    // Normalisation off: the engine's config and layers as they are.
    let d = normalize(
        &one,
        &Options {
            epoch: None,
            base: &[],
            cache: cache.path(),
        },
    )
    .unwrap();
    assert!(!d.normalized);
    assert_eq!(&d.config[..], &one.config[..]);
    assert_eq!(
        d.layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>(),
        one.diff_ids.iter().collect::<Vec<_>>()
    );
    assert_ne!(d.manifest.digest, a.manifest.digest);
}

/// The real engine: the same files copied with other mtimes (two image ids, two `created`)
/// normalise to one manifest digest.
#[tokio::test]
async fn two_builds_of_the_same_files_normalise_to_one_digest() {
    let engine = crate::engine::Engine::connect()
        .await
        .unwrap_or_else(|e| panic!("this test needs a running Docker engine: {e}"));
    let unique = format!("{} {:?}", std::process::id(), std::time::SystemTime::now());
    let build = |mtime: u64| {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, data) in [
            ("Dockerfile", "FROM scratch\nCOPY a /a\n"),
            ("a", unique.as_str()),
        ] {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(mtime);
            header.set_cksum();
            tar.append_data(&mut header, name, data.as_bytes()).unwrap();
        }
        bytes::Bytes::from(tar.into_inner().unwrap())
    };
    let request = crate::engine::BuildRequest {
        builder: crate::engine::Builder::Classic,
        dockerfile: "Dockerfile".into(),
        no_cache: true,
        ..Default::default()
    };
    let mut ids = Vec::new();
    for mtime in [EPOCH + 100, EPOCH + 200] {
        let context = build(mtime);
        let id = engine
            .build_to_id(&request, futures_util::stream::once(async { Ok(context) }))
            .await
            .expect("test image builds");
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "the engine's ids differ");
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let mut digests = Vec::new();
    for id in &ids {
        let image = crate::oci::archive::export_and_open(&engine, id, &dir.path().join("x"))
            .await
            .unwrap();
        let opts = Options {
            epoch: Some(EPOCH),
            base: &[],
            cache: &cache,
        };
        let normalized = normalize(&image, &opts).unwrap();
        // Every mtime in the pushed layer is at most the epoch.
        let blob = std::fs::read(normalized.layers[0].blob.as_ref().unwrap()).unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&blob[..]));
        for entry in archive.entries().unwrap() {
            assert!(entry.unwrap().header().mtime().unwrap() <= EPOCH);
        }
        digests.push(normalized.manifest.digest);
    }
    assert_eq!(digests[0], digests[1]);
    for id in &ids {
        let _ = engine.remove_image_forced(id).await;
    }
}
