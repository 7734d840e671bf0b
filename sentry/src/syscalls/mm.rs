//! Memory system calls: mmap, mprotect, madvise.

use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::kernel::rlimits;
use crate::kernel::task::Task;
use crate::mm::{page_down, page_up, VmaKind, PAGE_SIZE};

/// Where MAP_32BIT mappings go: [1 GiB, 2 GiB).
const MAP_32BIT_BOTTOM: u64 = 0x4000_0000;
const MAP_32BIT_TOP: u64 = 0x8000_0000;

pub fn mmap(t: &mut Task, a: Args) -> SysResult<u64> {
    let (addr, len, prot, flags, fd, off) =
        (a[0], a[1], a[2] as i32, a[3] as i32, a[4] as i32, a[5]);
    if len == 0 || !off.is_multiple_of(PAGE_SIZE) {
        return err(libc::EINVAL);
    }
    if prot & !(libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) != 0 {
        return err(libc::EINVAL);
    }
    let len = page_up(len).ok_or(Errno(libc::ENOMEM))?;
    let shared = match flags & 0x3 {
        libc::MAP_SHARED | 0x3 => true,
        libc::MAP_PRIVATE => false,
        _ => return err(libc::EINVAL),
    };
    let fixed = flags & (libc::MAP_FIXED | libc::MAP_FIXED_NOREPLACE) != 0;
    if flags & libc::MAP_FIXED_NOREPLACE != 0 {
        let end = addr.checked_add(len).ok_or(Errno(libc::ENOMEM))?;
        if t.mm.lock().vmas().any(|v| v.start < end && addr < v.end) {
            return err(libc::EEXIST);
        }
    }
    // MAP_32BIT: somewhere in the second gigabyte, as x86-64 Linux places
    // it (for programs that keep pointers in 32 bits).
    let addr = if flags & libc::MAP_32BIT != 0 && !fixed {
        t.mm.lock()
            .find_gap(len, MAP_32BIT_TOP)
            .filter(|&a| a >= MAP_32BIT_BOTTOM)
            .ok_or(Errno(libc::ENOMEM))?
    } else {
        addr
    };
    check_address_space(t, addr, len, fixed)?;
    if !shared && prot & libc::PROT_WRITE != 0 {
        check_data(t, addr, len, fixed)?;
    }
    if flags & libc::MAP_ANONYMOUS != 0 {
        return t
            .mm
            .lock()
            .map_anon(&mut *t.ctx, addr, len, prot, fixed, shared, VmaKind::Anon);
    }
    let f = t.file(fd as u64)?;
    if !f.readable() {
        return err(libc::EACCES);
    }
    if shared && prot & libc::PROT_WRITE != 0 && !f.writable() {
        return err(libc::EACCES);
    }
    if f.ops.maps_as_anonymous() {
        return t
            .mm
            .lock()
            .map_anon(&mut *t.ctx, addr, len, prot, fixed, shared, VmaKind::Anon);
    }
    let st = f.ops.stat()?;
    // Files without pages to map (Linux: no f_op->mmap): directories,
    // pipes, sockets and most character devices.
    if !f.ops.seekable() || st.file_type() == crate::vfs::FileType::Directory {
        return err(libc::ENODEV);
    }
    let kind = VmaKind::File {
        path: f.path.clone(),
        offset: off,
        dev: st.dev,
        ino: st.ino,
    };
    if shared {
        // A shared mapping shows the file's own pages.
        let pages = f.ops.mappable(prot & libc::PROT_WRITE != 0)?;
        return t
            .mm
            .lock()
            .map_file(&mut *t.ctx, addr, len, prot, fixed, pages, off, kind);
    }
    // A private mapping: the Sentry copies the file's pages into private memory.
    let start = t.mm.lock().map_anon(
        &mut *t.ctx,
        addr,
        len,
        libc::PROT_READ | libc::PROT_WRITE,
        fixed,
        false,
        kind,
    )?;
    let avail = st.size.saturating_sub(off).min(len);
    let mut done = 0u64;
    let mut buf = vec![0u8; (avail.min(1 << 20)) as usize];
    while done < avail {
        let want = (avail - done).min(buf.len() as u64) as usize;
        let n = f.ops.read(&mut buf[..want], off + done)?;
        if n == 0 {
            break;
        }
        t.mm.write_force(&mut *t.ctx, start + done, &buf[..n])?;
        done += n as u64;
    }
    let mut mm = t.mm.lock();
    // Pages wholly past the end of the file are SIGBUS, as on Linux.
    let visible = page_up(avail).ok_or(Errno(libc::ENOMEM))?;
    mm.hide_tail(&mut *t.ctx, start, start + visible)?;
    if prot != libc::PROT_READ | libc::PROT_WRITE {
        mm.protect(&mut *t.ctx, start, len, prot)?;
    }
    Ok(start)
}

/// RLIMIT_AS: may `len` bytes be mapped (at `addr`, replacing what is
/// there when `fixed`)? ENOMEM if the address space would outgrow it.
fn check_address_space(t: &Task, addr: u64, len: u64, fixed: bool) -> SysResult<()> {
    let limit = rlimits::soft(&t.proc, libc::RLIMIT_AS);
    if limit == rlimits::INFINITY {
        return Ok(());
    }
    let mm = t.mm.lock();
    let end = addr.saturating_add(len);
    let replaced: u64 = if fixed {
        mm.vmas()
            .map(|v| v.end.min(end).saturating_sub(v.start.max(addr)))
            .sum()
    } else {
        0
    };
    rlimits::may_expand(limit, mm.limited_bytes().saturating_sub(replaced), len)
}

/// RLIMIT_DATA (enforced by Linux since 4.7): may `len` more bytes of
/// private writable memory be mapped (at `addr`, replacing what is there
/// when `fixed`)? ENOMEM if the data mappings would outgrow it.
fn check_data(t: &Task, addr: u64, len: u64, fixed: bool) -> SysResult<()> {
    let limit = rlimits::soft(&t.proc, libc::RLIMIT_DATA);
    if limit == rlimits::INFINITY {
        return Ok(());
    }
    let mm = t.mm.lock();
    let data = mm.bytes_in(0, u64::MAX, |v| v.is_data());
    let replaced = if fixed {
        mm.bytes_in(addr, addr.saturating_add(len), |v| v.is_data())
    } else {
        0
    };
    rlimits::may_expand(limit, data - replaced, len)
}

/// brk: the break moves only within RLIMIT_AS and RLIMIT_DATA (the heap
/// is a data mapping).
pub fn brk(t: &mut Task, a: Args) -> SysResult<u64> {
    let (old, grow) = {
        let mm = t.mm.lock();
        let old_end = page_up(mm.brk).unwrap_or(mm.brk);
        let new_end = page_up(a[0]).unwrap_or(a[0]);
        (mm.brk, new_end.saturating_sub(old_end))
    };
    if grow > 0
        && a[0] > old
        && (check_address_space(t, 0, grow, false).is_err()
            || check_data(t, 0, grow, false).is_err())
    {
        return Ok(old);
    }
    Ok(t.mm.lock().set_brk(&mut *t.ctx, a[0]))
}

pub fn mremap(t: &mut Task, a: Args) -> SysResult<u64> {
    use crate::mm::remap::Placement;
    let flags = a[3] as i32;
    let known = libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED | libc::MREMAP_DONTUNMAP;
    if flags & !known != 0 {
        return err(libc::EINVAL);
    }
    if flags & libc::MREMAP_DONTUNMAP != 0 {
        // The pages move and the old range stays mapped: a move of the
        // same size, never in place.
        if flags & libc::MREMAP_MAYMOVE == 0 || page_up(a[1]) != page_up(a[2]) {
            return err(libc::EINVAL);
        }
        // The old range's new memory is more address space.
        check_address_space(t, 0, a[1], false)?;
        let placement = if flags & libc::MREMAP_FIXED != 0 {
            Placement::Fixed(a[4])
        } else {
            Placement::Elsewhere
        };
        return t
            .mm
            .lock()
            .remap_keep_old(&mut *t.ctx, a[0], a[1], placement);
    }
    let placement = match (
        flags & libc::MREMAP_MAYMOVE != 0,
        flags & libc::MREMAP_FIXED != 0,
    ) {
        (_, true) if flags & libc::MREMAP_MAYMOVE == 0 => return err(libc::EINVAL),
        (_, true) => Placement::Fixed(a[4]),
        (true, false) => Placement::MayMove,
        (false, false) => Placement::InPlace,
    };
    if let (Some(old_len), Some(new_len)) = (page_up(a[1]), page_up(a[2])) {
        if new_len > old_len {
            check_address_space(t, 0, new_len - old_len, false)?;
            if t.mm.find(a[0]).is_some_and(|v| v.is_data()) {
                check_data(t, 0, new_len - old_len, false)?;
            }
        }
    }
    t.mm.lock().remap(&mut *t.ctx, a[0], a[1], a[2], placement)
}

pub fn mprotect(t: &mut Task, a: Args) -> SysResult<u64> {
    let prot = a[2] as i32 & !(libc::PROT_GROWSDOWN | libc::PROT_GROWSUP);
    if prot & !(libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) != 0 {
        return err(libc::EINVAL);
    }
    if prot & libc::PROT_WRITE != 0 {
        // Private mappings that become writable become data (RLIMIT_DATA).
        let limit = rlimits::soft(&t.proc, libc::RLIMIT_DATA);
        let mm = t.mm.lock();
        let end = a[0].saturating_add(a[1]);
        let newly = mm.bytes_in(a[0], end, |v| {
            !v.shared && v.prot & libc::PROT_WRITE == 0 && !matches!(v.kind, VmaKind::Stack)
        });
        if newly > 0 && limit != rlimits::INFINITY {
            rlimits::may_expand(limit, mm.bytes_in(0, u64::MAX, |v| v.is_data()), newly)?;
        }
    }
    t.mm.lock()
        .protect(&mut *t.ctx, a[0], a[1], prot)
        .map(|_| 0)
}

/// The advice values Linux knows (MADV_*), hardware poisoning aside.
const KNOWN_ADVICE: &[i32] = &[
    0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
];

/// Whether [addr, addr + len) is mapped throughout (ENOMEM otherwise).
fn check_mapped(t: &Task, addr: u64, len: u64) -> SysResult<u64> {
    let end =
        page_up(addr.checked_add(len).ok_or(Errno(libc::ENOMEM))?).ok_or(Errno(libc::ENOMEM))?;
    let mut pos = addr;
    while pos < end {
        let v = t.mm.find(pos).ok_or(Errno(libc::ENOMEM))?;
        pos = v.end;
    }
    Ok(end)
}

pub fn msync(t: &mut Task, a: Args) -> SysResult<u64> {
    let flags = a[2] as i32;
    if !a[0].is_multiple_of(PAGE_SIZE)
        || flags & !(libc::MS_ASYNC | libc::MS_INVALIDATE | libc::MS_SYNC) != 0
        || (flags & libc::MS_ASYNC != 0 && flags & libc::MS_SYNC != 0)
    {
        return err(libc::EINVAL);
    }
    // Private copies have nothing to write back; shared file mappings
    // write theirs back to the file's home (a host file).
    let end = check_mapped(t, a[0], a[1])?;
    let mut files = Vec::new();
    let mut pos = a[0];
    while pos < end {
        let Some(v) = t.mm.find(pos) else { break };
        if let Some(f) = v.shared_file() {
            files.push(f.clone());
        }
        pos = v.end;
    }
    for f in files {
        f.sync()?;
    }
    Ok(0)
}

/// mincore: every mapped page counts as resident (the Sentry's memory file
/// backs them all).
pub fn mincore(t: &mut Task, a: Args) -> SysResult<u64> {
    if !a[0].is_multiple_of(PAGE_SIZE) {
        return err(libc::EINVAL);
    }
    let end = check_mapped(t, a[0], a[1])?;
    let pages = ((end - a[0]) / PAGE_SIZE) as usize;
    // Written in steps so a huge range is not a huge allocation.
    let ones = vec![1u8; pages.min(1 << 16)];
    let mut done = 0;
    while done < pages {
        let n = (pages - done).min(ones.len());
        t.mm.write(a[2] + done as u64, &ones[..n])?;
        done += n;
    }
    Ok(0)
}

pub fn madvise(t: &mut Task, a: Args) -> SysResult<u64> {
    if !a[0].is_multiple_of(PAGE_SIZE) || !KNOWN_ADVICE.contains(&(a[2] as i32)) {
        return err(libc::EINVAL);
    }
    if a[2] as i32 == libc::MADV_DONTNEED {
        // Private anonymous memory reads back as zero afterwards.
        let end = page_up(a[0].saturating_add(a[1])).ok_or(Errno(libc::EINVAL))?;
        t.mm.lock().discard(&mut *t.ctx, page_down(a[0]), end)?;
    }
    Ok(0)
}
