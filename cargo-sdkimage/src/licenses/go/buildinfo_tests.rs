use super::*;

/// What Go 1.19 wrote for a main module with two dependencies replaced by local folders.
const MODINFO: &str = "path\texample.com/boot\n\
mod\texample.com/boot\t(devel)\t\n\
dep\texample.com/Beta\tv0.3.1\n\
=>\t../beta\t(devel)\t\n\
dep\tgolang.org/x/text\tv0.3.7\th1:olpwvP2KacW1ZWvsR7uQhoyTYvKAupfQrRGBFM352Gk=\n\
dep\texample.com/alpha\tv1.2.0\n\
=>\texample.com/alpha-fork\tv1.2.1\th1:abc=\n\
build\t-compiler=gc\n\
build\tGOARCH=amd64\n";

fn framed(text: &str) -> Vec<u8> {
    let mut out = b"0123456789abcdef".to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"fedcba9876543210");
    out
}

fn uvarint(mut n: usize, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A minimal ELF64 little-endian executable with the given `(name, address, data)` sections
/// (no program headers: the reader finds everything through sections).
fn elf(sections: &[(&str, u64, Vec<u8>)]) -> Vec<u8> {
    let mut shstrtab = vec![0u8];
    let mut names = Vec::new();
    for (name, _, _) in sections {
        names.push(shstrtab.len() as u32);
        shstrtab.extend_from_slice(name.as_bytes());
        shstrtab.push(0);
    }
    let shstrtab_name = shstrtab.len() as u32;
    shstrtab.extend_from_slice(b".shstrtab\0");
    let mut body = vec![0u8; 64];
    let mut offsets = Vec::new();
    for (_, _, data) in sections {
        while !body.len().is_multiple_of(16) {
            body.push(0);
        }
        offsets.push(body.len() as u64);
        body.extend_from_slice(data);
    }
    let strtab_offset = body.len() as u64;
    body.extend_from_slice(&shstrtab);
    while !body.len().is_multiple_of(8) {
        body.push(0);
    }
    let shoff = body.len() as u64;
    let shnum = sections.len() as u16 + 2;
    let header =
        |out: &mut Vec<u8>, name: u32, kind: u32, flags: u64, addr: u64, off: u64, size: u64| {
            out.extend_from_slice(&name.to_le_bytes());
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&addr.to_le_bytes());
            out.extend_from_slice(&off.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&[0u8; 8]);
            out.extend_from_slice(&16u64.to_le_bytes());
            out.extend_from_slice(&0u64.to_le_bytes());
        };
    header(&mut body, 0, 0, 0, 0, 0, 0);
    for (i, (_, addr, data)) in sections.iter().enumerate() {
        header(
            &mut body,
            names[i],
            1,
            3,
            *addr,
            offsets[i],
            data.len() as u64,
        );
    }
    header(
        &mut body,
        shstrtab_name,
        3,
        0,
        0,
        strtab_offset,
        shstrtab.len() as u64,
    );
    let mut ident = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
    ident.resize(16, 0);
    let mut head = ident;
    head.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    head.extend_from_slice(&62u16.to_le_bytes()); // x86-64
    head.extend_from_slice(&1u32.to_le_bytes());
    head.extend_from_slice(&0u64.to_le_bytes()); // entry
    head.extend_from_slice(&0u64.to_le_bytes()); // phoff
    head.extend_from_slice(&shoff.to_le_bytes());
    head.extend_from_slice(&0u32.to_le_bytes());
    head.extend_from_slice(&64u16.to_le_bytes());
    head.extend_from_slice(&56u16.to_le_bytes());
    head.extend_from_slice(&0u16.to_le_bytes());
    head.extend_from_slice(&64u16.to_le_bytes());
    head.extend_from_slice(&shnum.to_le_bytes());
    head.extend_from_slice(&(shnum - 1).to_le_bytes());
    body[..64].copy_from_slice(&head);
    body
}

#[test]
fn parses_main_deps_sums_and_replacements() {
    let info = parse_modinfo(MODINFO);
    assert_eq!(info.path, "example.com/boot");
    let main = info.main.expect("main");
    assert_eq!(
        (main.path.as_str(), main.version.as_str()),
        ("example.com/boot", "(devel)")
    );
    assert_eq!(info.deps.len(), 3);
    let beta = &info.deps[0];
    assert_eq!(
        (
            beta.path.as_str(),
            beta.version.as_str(),
            beta.sum.as_deref()
        ),
        ("example.com/Beta", "v0.3.1", None)
    );
    let local = beta.replace.as_ref().expect("replaced");
    assert_eq!(
        (local.path.as_str(), local.version.as_str()),
        ("../beta", "(devel)")
    );
    assert_eq!(
        info.deps[1].sum.as_deref(),
        Some("h1:olpwvP2KacW1ZWvsR7uQhoyTYvKAupfQrRGBFM352Gk=")
    );
    assert!(info.deps[1].replace.is_none());
    let fork = info.deps[2].replace.as_ref().expect("replaced");
    assert_eq!(
        (
            fork.path.as_str(),
            fork.version.as_str(),
            fork.sum.as_deref()
        ),
        ("example.com/alpha-fork", "v1.2.1", Some("h1:abc="))
    );
}

#[test]
fn reads_the_inline_form() {
    let mut section = MAGIC.to_vec();
    section.push(8);
    section.push(2); // little-endian, inline strings
    section.resize(HEADER, 0);
    for s in [b"go1.19.8".to_vec(), framed(MODINFO)] {
        uvarint(s.len(), &mut section);
        section.extend_from_slice(&s);
    }
    let file = elf(&[
        (".text", 0x401000, vec![0x90; 64]),
        (".go.buildinfo", 0x511000, section),
    ]);
    let info = read(&file).expect("a Go binary");
    assert_eq!(info.go_version, "go1.19.8");
    assert_eq!(info.deps.len(), 3);
    assert_eq!(info.main.expect("main").path, "example.com/boot");
}

#[test]
fn reads_the_pointer_form_through_virtual_addresses() {
    // .data at 0x600000: two string headers (ptr, len), then the bytes they point at.
    let base = 0x600000u64;
    let version = b"go1.16.15".to_vec();
    let modinfo = framed(MODINFO);
    let mut data = Vec::new();
    let strings_at = base + 32;
    let push = |out: &mut Vec<u8>, v: u64| out.extend_from_slice(&v.to_le_bytes());
    push(&mut data, strings_at);
    push(&mut data, version.len() as u64);
    push(&mut data, strings_at + version.len() as u64);
    push(&mut data, modinfo.len() as u64);
    data.extend_from_slice(&version);
    data.extend_from_slice(&modinfo);
    let mut section = MAGIC.to_vec();
    section.push(8);
    section.push(0); // little-endian, pointers
    push(&mut section, base);
    push(&mut section, base + 16);
    let file = elf(&[(".go.buildinfo", 0x500000, section), (".data", base, data)]);
    let info = read(&file).expect("a Go binary");
    assert_eq!(info.go_version, "go1.16.15");
    assert_eq!(info.deps[0].path, "example.com/Beta");
    assert_eq!(info.deps[2].replace.as_ref().expect("r").version, "v1.2.1");
}

#[test]
fn finds_an_aligned_magic_without_the_section_and_rejects_other_files() {
    // A magic off the 16-byte grid first (skipped), then the real header at 64 of the section.
    let mut data = vec![0u8; 3];
    data.extend_from_slice(MAGIC);
    data.resize(64, 0);
    data.extend_from_slice(MAGIC);
    data.push(8);
    data.push(2);
    data.resize(64 + HEADER, 0);
    for s in [b"go1.20".to_vec(), framed("path\tx\nmod\tx\t(devel)\t\n")] {
        uvarint(s.len(), &mut data);
        data.extend_from_slice(&s);
    }
    let file = elf(&[(".data", 0x600000, data)]);
    let info = read(&file).expect("found by the magic");
    assert_eq!(
        (info.go_version.as_str(), info.path.as_str()),
        ("go1.20", "x")
    );
    assert!(read(&elf(&[(".data", 0x600000, vec![1; 100])])).is_none());
    assert!(read(b"#!/bin/sh\necho hi\n").is_none());
    assert!(is_executable_head(b"\x7fELF\x02"));
    assert!(!is_executable_head(b"#!/b"));
}
