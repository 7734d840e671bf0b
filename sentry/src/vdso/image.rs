//! The vDSO image: sentry/vdso/vdso.c, built by sentry/build.rs into a
//! small shared object and embedded here. It is linked at address 0 with
//! one read+exec segment and no relocations, so the Sentry copies it into
//! an address space as it is; the data page lies one page below it.

use crate::mm::PAGE_SIZE;

/// The vDSO's bytes, as the linker wrote them.
pub static IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vdso.so"));

/// How many bytes the image takes in an address space (whole pages).
pub fn mapped_len() -> u64 {
    (IMAGE.len() as u64).div_ceil(PAGE_SIZE) * PAGE_SIZE
}

/// A little-endian integer of `N` bytes at `off`, if the image has them.
fn field<const N: usize>(img: &[u8], off: u64) -> Option<u64> {
    let off = usize::try_from(off).ok()?;
    let bytes = img.get(off..off.checked_add(N)?)?;
    let mut v = [0u8; 8];
    v[..N].copy_from_slice(bytes);
    Some(u64::from_le_bytes(v))
}

/// The value (image offset) of the dynamic symbol `name`, found through
/// the section headers' .dynsym, as a loader finds it through DT_SYMTAB.
pub fn symbol(img: &[u8], name: &str) -> Option<u64> {
    let shoff = field::<8>(img, 0x28)?;
    let shentsize = field::<2>(img, 0x3a)?;
    let shnum = field::<2>(img, 0x3c)?;
    let sections = (0..shnum).map(|i| shoff + i * shentsize);
    for sh in sections {
        // SHT_DYNSYM
        if field::<4>(img, sh + 4)? != 11 {
            continue;
        }
        let (off, size, link, entsize) = (
            field::<8>(img, sh + 0x18)?,
            field::<8>(img, sh + 0x20)?,
            field::<4>(img, sh + 0x28)?,
            field::<8>(img, sh + 0x38)?,
        );
        let strtab = field::<8>(img, shoff + link * shentsize + 0x18)?;
        for i in 0..size / entsize.max(1) {
            let sym = off + i * entsize;
            let name_off = usize::try_from(strtab + field::<4>(img, sym)?).ok()?;
            let rest = img.get(name_off..)?;
            let end = rest.iter().position(|&b| b == 0)?;
            if &rest[..end] == name.as_bytes() {
                return field::<8>(img, sym + 8);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program_headers() -> Vec<(u64, u64, u64)> {
        let phoff = field::<8>(IMAGE, 0x20).unwrap();
        let phnum = field::<2>(IMAGE, 0x38).unwrap();
        (0..phnum)
            .map(|i| {
                let ph = phoff + i * 56;
                (
                    field::<4>(IMAGE, ph).unwrap(),
                    field::<8>(IMAGE, ph + 0x10).unwrap(),
                    field::<8>(IMAGE, ph + 0x8).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn is_a_64_bit_shared_object_linked_at_zero() {
        assert_eq!(&IMAGE[..4], b"\x7fELF");
        assert_eq!(IMAGE[4], 2, "ELFCLASS64");
        assert_eq!(field::<2>(IMAGE, 0x10), Some(3), "ET_DYN");
        let loads: Vec<_> = program_headers()
            .into_iter()
            .filter(|&(t, _, _)| t == 1)
            .collect();
        assert_eq!(loads.len(), 1, "one PT_LOAD");
        assert_eq!(loads[0].1, 0, "linked at 0");
        assert_eq!(loads[0].2, 0, "loaded from the file's start");
        assert!(
            program_headers().iter().any(|&(t, _, _)| t == 2),
            "PT_DYNAMIC"
        );
        assert!(mapped_len() <= 2 * PAGE_SIZE, "{} bytes", IMAGE.len());
    }

    #[test]
    fn exports_what_glibc_looks_up() {
        for name in [
            "__vdso_clock_gettime",
            "__vdso_gettimeofday",
            "__vdso_time",
            "__vdso_getcpu",
            "__vdso_clock_getres",
            "clock_gettime",
        ] {
            let at = symbol(IMAGE, name).unwrap_or_else(|| panic!("{name} missing"));
            assert!(at > 0 && at < IMAGE.len() as u64, "{name} at {at:#x}");
        }
        assert_eq!(
            symbol(IMAGE, "read_clock"),
            None,
            "internal symbols stay local"
        );
        // The version glibc asks for (dl_vdso_vsym looks up LINUX_2.6).
        assert!(IMAGE.windows(10).any(|w| w == b"LINUX_2.6\0"));
    }

    #[test]
    fn needs_no_relocation() {
        // Walk the dynamic section: no DT_RELA/DT_REL/DT_TEXTREL, and the
        // tables a loader needs are there.
        let (_, dynamic, _) = program_headers()
            .into_iter()
            .find(|&(t, _, _)| t == 2)
            .unwrap();
        let mut tags = Vec::new();
        let mut at = dynamic;
        loop {
            let tag = field::<8>(IMAGE, at).unwrap();
            if tag == 0 {
                break;
            }
            tags.push(tag);
            at += 16;
        }
        for bad in [7u64, 17, 22] {
            assert!(!tags.contains(&bad), "dynamic tag {bad} present: {tags:?}");
        }
        // DT_HASH, DT_STRTAB, DT_SYMTAB, DT_VERSYM, DT_VERDEF
        for need in [4u64, 5, 6, 0x6fff_fff0, 0x6fff_fffc] {
            assert!(
                tags.contains(&need),
                "dynamic tag {need:#x} missing: {tags:?}"
            );
        }
    }
}
