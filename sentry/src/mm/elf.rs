//! The ELF loader: validates an ELF64 x86-64 image (static or dynamic, PIE
//! or not) and lays its segments out in an address space. Every field of a
//! hostile file is checked before it is used: a bad image is ENOEXEC, never
//! a panic.

use super::address_space::{MemoryManager, VmaKind};
use super::image_cache::{self, ContentId};
use super::{page_down, page_up};
use crate::errno::{err, Errno, SysResult};
use crate::platform::Context;

/// Where a position-independent main program is placed (Linux's ELF_ET_DYN_BASE).
const PIE_BASE: u64 = 0x5555_5555_4000;
/// Largest span of an image we accept.
const MAX_SPAN: u64 = 1 << 36;
/// Segment data moves through a buffer of at most this size.
const COPY_CHUNK: u64 = 1 << 20;
const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const PT_PHDR: u32 = 6;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;

/// Reads up to `buf.len()` bytes at an offset of the image.
pub type ReadAt<'a> = &'a dyn Fn(&mut [u8], u64) -> SysResult<usize>;

#[derive(Clone, Copy, Debug)]
pub struct ProgramHeader {
    pub kind: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
}

/// A parsed and checked ELF header.
pub struct ElfImage {
    pub elf_type: u16,
    pub entry: u64,
    pub phoff: u64,
    pub phdrs: Vec<ProgramHeader>,
    pub interp: Option<String>,
}

/// What the loader did, for the initial stack's auxiliary vector.
pub struct Loaded {
    pub entry: u64,
    pub bias: u64,
    pub phdr_addr: u64,
    pub phnum: u64,
    pub end: u64,
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

fn read_exact(read: ReadAt, buf: &mut [u8], off: u64) -> SysResult<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = read(&mut buf[done..], off + done as u64)?;
        if n == 0 {
            return err(libc::ENOEXEC);
        }
        done += n;
    }
    Ok(())
}

/// Parses and validates the headers of an ELF image.
pub fn parse(read: ReadAt) -> SysResult<ElfImage> {
    let mut eh = [0u8; 64];
    read_exact(read, &mut eh, 0)?;
    if &eh[0..4] != b"\x7fELF" || eh[4] != 2 || eh[5] != 1 {
        return err(libc::ENOEXEC);
    }
    let elf_type = u16_at(&eh, 16);
    if (elf_type != ET_EXEC && elf_type != ET_DYN) || u16_at(&eh, 18) != 62 {
        return err(libc::ENOEXEC);
    }
    let entry = u64_at(&eh, 24);
    let phoff = u64_at(&eh, 32);
    let phentsize = u16_at(&eh, 54);
    let phnum = u16_at(&eh, 56) as usize;
    if phentsize != 56 || phnum == 0 || phnum > 128 {
        return err(libc::ENOEXEC);
    }
    let mut ph = vec![0u8; 56 * phnum];
    read_exact(read, &mut ph, phoff)?;
    let mut phdrs = Vec::with_capacity(phnum);
    let mut interp = None;
    for i in 0..phnum {
        let b = &ph[i * 56..(i + 1) * 56];
        let h = ProgramHeader {
            kind: u32_at(b, 0),
            flags: u32_at(b, 4),
            offset: u64_at(b, 8),
            vaddr: u64_at(b, 16),
            filesz: u64_at(b, 32),
            memsz: u64_at(b, 40),
        };
        if h.kind == PT_LOAD {
            let bad = h.filesz > h.memsz
                || h.offset.checked_add(h.filesz).is_none()
                || h.vaddr
                    .checked_add(h.memsz)
                    .is_none_or(|e| e > MAX_SPAN * 4096)
                || h.offset % 4096 != h.vaddr % 4096;
            if bad {
                return err(libc::ENOEXEC);
            }
        }
        if h.kind == PT_INTERP {
            if h.filesz == 0 || h.filesz > 4096 {
                return err(libc::ENOEXEC);
            }
            let mut name = vec![0u8; h.filesz as usize];
            read_exact(read, &mut name, h.offset)?;
            if name.last() == Some(&0) {
                name.pop();
            }
            interp = Some(String::from_utf8(name).map_err(|_| Errno(libc::ENOEXEC))?);
        }
        phdrs.push(h);
    }
    if !phdrs.iter().any(|h| h.kind == PT_LOAD) {
        return err(libc::ENOEXEC);
    }
    Ok(ElfImage {
        elf_type,
        entry,
        phoff,
        phdrs,
        interp,
    })
}

fn prot_of(flags: u32) -> i32 {
    let mut p = 0;
    if flags & 4 != 0 {
        p |= libc::PROT_READ;
    }
    if flags & 2 != 0 {
        p |= libc::PROT_WRITE;
    }
    if flags & 1 != 0 {
        p |= libc::PROT_EXEC;
    }
    p
}

/// Whether a segment can be mapped from the executable cache: read-only,
/// and all file data (no zeroed tail that the file's bytes would fill).
fn cacheable(h: &ProgramHeader) -> bool {
    h.flags & 2 == 0 && h.filesz == h.memsz && h.filesz > 0
}

/// Maps the whole file pages under segment `h` at `at` from the cache.
fn map_cached(
    mm: &mut MemoryManager,
    ctx: &mut dyn Context,
    read: ReadAt,
    id: ContentId,
    h: &ProgramHeader,
    at: u64,
    kind: &VmaKind,
) -> SysResult<()> {
    let foff = page_down(h.offset);
    let fend = page_up(h.offset + h.filesz).ok_or(Errno(libc::ENOEXEC))?;
    let len = fend - foff;
    let file = mm.memory_file().clone();
    let backing = image_cache::pages(&file, id, foff, len, |buf| {
        let mut done = 0;
        while done < buf.len() {
            // The last page may end past the file: the rest stays zero.
            let n = read(&mut buf[done..], foff + done as u64)?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(())
    })?;
    let mut kind = kind.clone();
    if let VmaKind::File { offset, .. } = &mut kind {
        *offset = foff;
    }
    mm.map_cow(ctx, page_down(at), len, prot_of(h.flags), backing, 0, kind)?;
    Ok(())
}

/// Loads `image` into `mm`. The main program of type ET_DYN goes at the
/// PIE base; an interpreter (`main == false`) wherever there is room.
/// With the file's `content` identity, read-only segments come from the
/// executable cache, shared copy-on-write (as Linux maps them from its
/// page cache: the whole pages of the file, bytes around the segment
/// included); otherwise, and for writable segments, they are copied.
pub fn load(
    mm: &mut MemoryManager,
    ctx: &mut dyn Context,
    image: &ElfImage,
    read: ReadAt,
    main: bool,
    kind: VmaKind,
    content: Option<ContentId>,
) -> SysResult<Loaded> {
    let loads: Vec<&ProgramHeader> = image.phdrs.iter().filter(|h| h.kind == PT_LOAD).collect();
    let lo = page_down(loads.iter().map(|h| h.vaddr).min().unwrap_or(0));
    let hi = loads.iter().map(|h| h.vaddr + h.memsz).max().unwrap_or(0);
    let hi = page_up(hi).ok_or(Errno(libc::ENOEXEC))?;
    let span = hi - lo;
    if span == 0 || span > MAX_SPAN {
        return err(libc::ENOEXEC);
    }
    let start = if image.elf_type == ET_EXEC {
        mm.map_anon(ctx, lo, span, libc::PROT_NONE, true, false, kind.clone())?
    } else if main {
        mm.map_anon(
            ctx,
            PIE_BASE,
            span,
            libc::PROT_NONE,
            true,
            false,
            kind.clone(),
        )?
    } else {
        mm.map_anon(ctx, 0, span, libc::PROT_NONE, false, false, kind.clone())?
    };
    let bias = start - lo;
    for h in &loads {
        let at = bias + h.vaddr;
        if let Some(id) = content.filter(|_| cacheable(h)) {
            map_cached(mm, ctx, read, id, h, at, &kind)?;
            continue;
        }
        let pstart = page_down(at);
        let pend = page_up(at + h.memsz).ok_or(Errno(libc::ENOEXEC))?;
        // The segment gets its memory in one piece (one mapping, as on
        // Linux), not chunk by chunk as the copy touches it.
        mm.back_reserved(ctx, pstart, pend)?;
        // Copy in bounded chunks: a hostile p_filesz meets end of file, not
        // a huge allocation.
        let mut done = 0u64;
        let mut buf = vec![0u8; h.filesz.min(COPY_CHUNK) as usize];
        while done < h.filesz {
            let n = (h.filesz - done).min(COPY_CHUNK) as usize;
            read_exact(read, &mut buf[..n], h.offset + done)?;
            mm.write_force(ctx, at + done, &buf[..n])?;
            done += n as u64;
        }
        if pend > pstart {
            mm.protect(ctx, pstart, pend - pstart, prot_of(h.flags))?;
        }
    }
    let phdr_addr = match image.phdrs.iter().find(|h| h.kind == PT_PHDR) {
        Some(h) => bias + h.vaddr,
        None => {
            // The headers are usually inside the first segment.
            let first = loads
                .iter()
                .find(|h| h.offset <= image.phoff && image.phoff < h.offset + h.filesz);
            first
                .map(|h| bias + h.vaddr + (image.phoff - h.offset))
                .unwrap_or(0)
        }
    };
    Ok(Loaded {
        entry: bias + image.entry,
        bias,
        phdr_addr,
        phnum: image.phdrs.len() as u64,
        end: bias + hi,
    })
}
