use std::io::{Read, Write};

use sha2::{Digest, Sha256};

use super::*;

/// A layer tar holding one file `name` with `content`.
pub(crate) fn layer_tar(name: &str, content: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(1);
    header.set_cksum();
    builder.append_data(&mut header, name, content).unwrap();
    builder.into_inner().unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn config_for(layers: &[Vec<u8>]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

fn add(builder: &mut tar::Builder<Vec<u8>>, name: &str, bytes: &[u8]) {
    let mut header = tar::Header::new_ustar();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, name, bytes).unwrap();
}

fn add_symlink(builder: &mut tar::Builder<Vec<u8>>, name: &str, target: &str) {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    header.set_mode(0o777);
    header.set_cksum();
    builder.append_link(&mut header, name, target).unwrap();
}

/// `docker save` as Docker ≤ 24 writes it.
pub(crate) fn legacy_save(layers: &[Vec<u8>]) -> Vec<u8> {
    let config = config_for(layers);
    let config_name = format!("{}.json", &sha256(&config)[7..]);
    let mut builder = tar::Builder::new(Vec::new());
    let mut names = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let name = format!("{i:064x}/layer.tar");
        add(&mut builder, &format!("{i:064x}/VERSION"), b"1.0");
        add(&mut builder, &name, layer);
        names.push(name);
    }
    add(&mut builder, &config_name, &config);
    let manifest = serde_json::json!([{"Config": config_name, "RepoTags": null, "Layers": names}]);
    add(
        &mut builder,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    builder.into_inner().unwrap()
}

/// `docker save` as Docker ≥ 25 writes it: blobs, with `<id>/layer.tar` symlinks into them.
fn oci_save(layers: &[Vec<u8>], stored: &[Vec<u8>]) -> Vec<u8> {
    let config = config_for(layers);
    let mut builder = tar::Builder::new(Vec::new());
    add(
        &mut builder,
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    );
    let mut names = Vec::new();
    for (i, blob) in stored.iter().enumerate() {
        let hex = &sha256(blob)[7..];
        add(&mut builder, &format!("blobs/sha256/{hex}"), blob);
        if i == 0 {
            // The first one through a legacy-style symlink.
            let link = format!("{hex}/layer.tar");
            add_symlink(&mut builder, &link, &format!("../blobs/sha256/{hex}"));
            names.push(link);
        } else {
            names.push(format!("blobs/sha256/{hex}"));
        }
    }
    let config_name = format!("blobs/sha256/{}", &sha256(&config)[7..]);
    add(&mut builder, &config_name, &config);
    let manifest =
        serde_json::json!([{"Config": config_name, "RepoTags": ["x:1"], "Layers": names}]);
    add(
        &mut builder,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    builder.into_inner().unwrap()
}

fn open_bytes(bytes: &[u8]) -> (tempfile::TempDir, ExportedImage) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.tar");
    std::fs::write(&path, bytes).unwrap();
    let image = ExportedImage::open(&path).unwrap();
    (dir, image)
}

fn read_layer(image: &ExportedImage, index: usize) -> Vec<u8> {
    let mut out = Vec::new();
    image
        .open_layer(index)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn reads_the_legacy_layout() {
    let layers = vec![layer_tar("a", b"one"), layer_tar("b", b"two")];
    let (_dir, image) = open_bytes(&legacy_save(&layers));
    assert_eq!(image.config, config_for(&layers));
    assert_eq!(
        image.diff_ids,
        layers.iter().map(|l| sha256(l)).collect::<Vec<_>>()
    );
    assert_eq!(image.layer_count(), 2);
    for (i, layer) in layers.iter().enumerate() {
        assert_eq!(&read_layer(&image, i), layer);
    }
}

#[test]
fn reads_the_oci_layout_with_symlinks_and_gzip_layers() {
    let layers = vec![layer_tar("a", b"one"), layer_tar("b", b"two")];
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&layers[1]).unwrap();
    let stored = vec![layers[0].clone(), gz.finish().unwrap()];
    let (_dir, image) = open_bytes(&oci_save(&layers, &stored));
    assert_eq!(image.config, config_for(&layers));
    for (i, layer) in layers.iter().enumerate() {
        assert_eq!(&read_layer(&image, i), layer, "layer {i}");
        assert_eq!(sha256(&read_layer(&image, i)), image.diff_ids[i]);
    }
}

#[test]
fn refuses_what_is_not_a_save() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.tar");
    std::fs::write(&path, layer_tar("a", b"one")).unwrap();
    let error = ExportedImage::open(&path).unwrap_err().to_string();
    assert!(error.contains("manifest.json"), "{error}");
    let mut builder = tar::Builder::new(Vec::new());
    add(&mut builder, "manifest.json", b"[]");
    std::fs::write(&path, builder.into_inner().unwrap()).unwrap();
    let error = ExportedImage::open(&path).unwrap_err().to_string();
    assert!(error.contains("lists 0 images"), "{error}");
}

#[test]
fn a_symlink_out_of_the_archive_is_not_followed() {
    let mut builder = tar::Builder::new(Vec::new());
    add_symlink(&mut builder, "manifest.json", "../../etc/passwd");
    let bytes = builder.into_inner().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.tar");
    std::fs::write(&path, bytes).unwrap();
    assert!(ExportedImage::open(&path).is_err());
}

/// Build a `FROM scratch` image from `files` (the Dockerfile included) on the real engine.
pub(crate) async fn build_on(engine: &crate::engine::Engine, files: &[(&str, &str)]) -> String {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in files {
        add(&mut tar, name, data.as_bytes());
    }
    let context = bytes::Bytes::from(tar.into_inner().unwrap());
    // The classic builder: quick, and not queued behind other BuildKit builds.
    let request = crate::engine::BuildRequest {
        builder: crate::engine::Builder::Classic,
        dockerfile: "Dockerfile".into(),
        ..Default::default()
    };
    engine
        .build_to_id(&request, futures_util::stream::once(async { Ok(context) }))
        .await
        .expect("test image builds")
}

/// The real engine: an image built FROM scratch, exported through the API, read back; its
/// config's digest is the image id and every layer hashes to its diff id.
#[tokio::test]
async fn exports_a_real_image_from_the_engine() {
    let engine = crate::engine::Engine::connect()
        .await
        .unwrap_or_else(|e| panic!("this test needs a running Docker engine: {e}"));
    let unique = format!("{} {:?}", std::process::id(), std::time::SystemTime::now());
    let id = build_on(
        &engine,
        &[
            ("Dockerfile", "FROM scratch\nCOPY a /a\nCOPY b /b\n"),
            ("a", unique.as_str()),
            ("b", "two"),
        ],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let image = export_and_open(&engine, &id, &dir.path().join("exports"))
        .await
        .unwrap();
    assert_eq!(sha256(&image.config), id);
    assert_eq!(image.layer_count(), 2);
    for i in 0..image.layer_count() {
        assert_eq!(sha256(&read_layer(&image, i)), image.diff_ids[i]);
    }
    // A second call reads the file already there, and marks it used for `prune_exports`.
    let since = std::time::SystemTime::now();
    let again = export_and_open(&engine, &id, &dir.path().join("exports"))
        .await
        .unwrap();
    assert_eq!(again.diff_ids, image.diff_ids);
    prune_exports(&dir.path().join("exports"), since);
    assert!(export_path(&dir.path().join("exports"), &id).is_file());
    let _ = engine.remove_image_forced(&id).await;
}

#[test]
fn prune_exports_removes_what_the_last_push_did_not_use() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.tar");
    std::fs::write(&old, b"x").unwrap();
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    let since = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    let used = dir.path().join("used.tar");
    std::fs::write(&used, b"y").unwrap();
    prune_exports(dir.path(), since);
    assert!(!old.exists());
    assert!(used.exists());
    // A folder that does not exist is nothing to prune.
    prune_exports(&dir.path().join("none"), since);
}
