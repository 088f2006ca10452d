//! A Go binary's build information, as `go version -m` prints it: the Go version, the main
//! module, and each dependency's path, version, sum and `=>` replacement.
//!
//! The linker writes a 32-byte header, aligned to 16, in the `.go.buildinfo` section (ELF; the
//! start of the data segment on formats without that section): the magic `\xff Go buildinf:`,
//! the pointer size, a flags byte, then either two pointers to Go string headers
//! (`runtime.buildVersion`, `runtime.modinfo`; Go < 1.18) or, when flag bit 2 is set, the two
//! strings inline after the header, each prefixed by its length as a uvarint (Go >= 1.18).
//! Upstream: `debug/buildinfo` of the Go standard library.

use object::{Object, ObjectSection, ObjectSegment};

const MAGIC: &[u8] = b"\xff Go buildinf:";
const HEADER: usize = 32;
const ALIGN: usize = 16;
/// How far past the data start the header is looked for, as the Go reader does.
const SEARCH: usize = 64 * 1024;
/// The sentinels framing `runtime.modinfo` (16 bytes each side).
const FRAME: usize = 16;

/// One module of a binary's build information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Module {
    pub path: String,
    /// `(devel)` for a main module built from a work tree.
    pub version: String,
    /// `h1:...`, when the go.sum had one.
    pub sum: Option<String>,
    pub replace: Option<Box<Module>>,
}

/// The build information of one Go binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BuildInfo {
    pub go_version: String,
    /// The main package's import path (`path` line).
    pub path: String,
    pub main: Option<Module>,
    pub deps: Vec<Module>,
}

/// Whether `head` (the first bytes of a file) starts an executable format Go builds.
pub(crate) fn is_executable_head(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
        || head.starts_with(&[0xcf, 0xfa, 0xed, 0xfe])
        || head.starts_with(&[0xce, 0xfa, 0xed, 0xfe])
        || head.starts_with(b"MZ")
}

/// The build information of `file`, or `None` when it is no Go binary with module information
/// (not an object file, no header, a binary built without modules).
pub(crate) fn read(file: &[u8]) -> Option<BuildInfo> {
    let parsed = object::File::parse(file).ok()?;
    let (data, limit) = match parsed
        .section_by_name(".go.buildinfo")
        .or_else(|| parsed.section_by_name("__go_buildinfo"))
    {
        Some(section) => (section.data().ok()?, SEARCH),
        // No section: the start of the first writable data, else the whole file.
        None => match data_start(&parsed) {
            Some(data) => (data, SEARCH),
            None => (file, file.len()),
        },
    };
    let header = find_header(data, limit)?;
    let ptr_size = usize::from(header[14]);
    let flags = header[15];
    let (version, modinfo) = if flags & 2 != 0 {
        let (version, rest) = uvarint_string(&header[HEADER..])?;
        let (modinfo, _) = uvarint_string(rest)?;
        (version.to_vec(), modinfo.to_vec())
    } else {
        if ptr_size != 4 && ptr_size != 8 {
            return None;
        }
        let big = flags & 1 != 0;
        let pointer = |at: &[u8]| read_uint(at.get(..ptr_size)?, big);
        let version = go_string(&parsed, pointer(&header[16..])?, ptr_size, big)?;
        let modinfo = go_string(&parsed, pointer(&header[16 + ptr_size..])?, ptr_size, big)?;
        (version.to_vec(), modinfo.to_vec())
    };
    if version.is_empty() {
        return None;
    }
    // The module text sits between two 16-byte sentinels, the last one after a newline.
    let text = if modinfo.len() > 2 * FRAME && modinfo[modinfo.len() - FRAME - 1] == b'\n' {
        &modinfo[FRAME..modinfo.len() - FRAME]
    } else {
        &[][..]
    };
    let mut info = parse_modinfo(&String::from_utf8_lossy(text));
    info.go_version = String::from_utf8_lossy(&version).into_owned();
    Some(info)
}

/// The first writable, non-executable segment's data (where the linker puts the header when
/// there is no section of its own).
fn data_start<'a>(parsed: &object::File<'a>) -> Option<&'a [u8]> {
    parsed
        .segments()
        .find(|s| {
            matches!(s.flags(), object::SegmentFlags::Elf { p_flags, .. }
                if p_flags & (object::elf::PF_X | object::elf::PF_W) == object::elf::PF_W)
        })
        .and_then(|s| s.data().ok())
}

/// The header: the first occurrence of the magic at a 16-byte boundary with a whole header
/// after it, within the first `limit` bytes.
fn find_header(data: &[u8], limit: usize) -> Option<&[u8]> {
    let data = &data[..data.len().min(limit)];
    let mut at = 0;
    while at < data.len() {
        let found = at + memchr::memmem::find(&data[at..], MAGIC)?;
        if found.is_multiple_of(ALIGN) && data.len() - found >= HEADER {
            return Some(&data[found..]);
        }
        at = (found + ALIGN) & !(ALIGN - 1);
    }
    None
}

fn read_uint(bytes: &[u8], big: bool) -> Option<u64> {
    let mut value = 0u64;
    let ordered: Box<dyn Iterator<Item = &u8>> = if big {
        Box::new(bytes.iter())
    } else {
        Box::new(bytes.iter().rev())
    };
    for b in ordered {
        value = value.checked_shl(8)? | u64::from(*b);
    }
    Some(value)
}

/// A Go string header (data pointer, length) at virtual address `at`, and its bytes.
fn go_string<'a>(
    parsed: &object::File<'a>,
    at: u64,
    ptr_size: usize,
    big: bool,
) -> Option<&'a [u8]> {
    let header = read_at(parsed, at, 2 * ptr_size as u64)?;
    let data = read_uint(&header[..ptr_size], big)?;
    let len = read_uint(&header[ptr_size..], big)?;
    if len == 0 {
        return Some(&[]);
    }
    // A module list is at most a few megabytes; anything bigger is not one.
    if len > 16 << 20 {
        return None;
    }
    read_at(parsed, data, len)
}

/// `size` bytes at virtual address `address`, from the section or segment holding them.
fn read_at<'a>(parsed: &object::File<'a>, address: u64, size: u64) -> Option<&'a [u8]> {
    parsed
        .sections()
        .find_map(|s| s.data_range(address, size).ok().flatten())
        .or_else(|| {
            parsed
                .segments()
                .find_map(|s| s.data_range(address, size).ok().flatten())
        })
}

/// A uvarint-prefixed string and what follows it.
fn uvarint_string(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut len: u64 = 0;
    let mut shift = 0;
    for (i, b) in data.iter().enumerate().take(10) {
        len |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            let start = i + 1;
            let end = start.checked_add(usize::try_from(len).ok()?)?;
            return Some((data.get(start..end)?, &data[end..]));
        }
        shift += 7;
    }
    None
}

/// The text of `runtime.modinfo`: tab-separated lines `path`, `mod`, `dep`, `=>` (replacing
/// the line before), `build`.
pub(crate) fn parse_modinfo(text: &str) -> BuildInfo {
    let mut info = BuildInfo {
        go_version: String::new(),
        path: String::new(),
        main: None,
        deps: Vec::new(),
    };
    let mut last_was_main = false;
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let module = || {
            let path = fields.get(1).filter(|p| !p.is_empty())?;
            Some(Module {
                path: (*path).to_string(),
                version: fields.get(2).copied().unwrap_or("").to_string(),
                sum: fields
                    .get(3)
                    .filter(|s| !s.is_empty())
                    .map(|s| (*s).to_string()),
                replace: None,
            })
        };
        match fields[0] {
            "path" => info.path = fields.get(1).copied().unwrap_or("").to_string(),
            "mod" => {
                info.main = module();
                last_was_main = true;
            }
            "dep" => {
                if let Some(m) = module() {
                    info.deps.push(m);
                }
                last_was_main = false;
            }
            "=>" => {
                let target = if last_was_main {
                    info.main.as_mut()
                } else {
                    info.deps.last_mut()
                };
                if let (Some(target), Some(replacement)) = (target, module()) {
                    target.replace = Some(Box::new(replacement));
                }
            }
            _ => {}
        }
    }
    info
}

#[cfg(test)]
#[path = "buildinfo_tests.rs"]
mod tests;
