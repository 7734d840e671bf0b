//! C test programs: built with gcc, static and dynamic, into a bundle's
//! root filesystem together with the libraries the dynamic build needs.

use std::fs;
use std::path::Path;
use std::process::Command;

/// Builds `src` twice into `rootfs/bin`: `<name>-static` and `<name>`
/// (dynamic), with `-O1 -Wall -pthread` and `extra` flags; then copies the
/// dynamic build's libraries into `rootfs`.
pub fn build_both(rootfs: &Path, src: &Path, name: &str, extra: &[&str]) {
    let bin = rootfs.join("bin");
    for (out, link) in [
        (format!("{name}-static"), &["-static"][..]),
        (name.to_string(), &[][..]),
    ] {
        let made = Command::new("gcc")
            .args(link)
            .args(["-O1", "-Wall", "-pthread"])
            .args(extra)
            .arg("-o")
            .arg(bin.join(&out))
            .arg(src)
            .output()
            .expect("gcc runs");
        assert!(
            made.status.success(),
            "gcc {out}: {}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    install_libraries(rootfs, &bin.join(name));
}

/// Builds `src` into `out`, static, with `-O1 -Wall`.
pub fn build_static(src: &Path, out: &Path) {
    let made = Command::new("gcc")
        .args(["-static", "-O1", "-Wall", "-o"])
        .arg(out)
        .arg(src)
        .output()
        .expect("gcc runs (apt-get install gcc)");
    assert!(
        made.status.success(),
        "gcc {}: {}",
        src.display(),
        String::from_utf8_lossy(&made.stderr)
    );
}

/// Copies the shared libraries `ldd` lists for `binary` to the same paths
/// under `rootfs`.
pub fn install_libraries(rootfs: &Path, binary: &Path) {
    let ldd = Command::new("ldd").arg(binary).output().expect("ldd runs");
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        copy_to_root(rootfs, Path::new(lib), Path::new(lib));
    }
}

/// Copies host file `src` to `rootfs` + `dst`.
pub fn copy_to_root(rootfs: &Path, dst: &Path, src: &Path) {
    let to = rootfs.join(dst.strip_prefix("/").unwrap_or(dst));
    fs::create_dir_all(to.parent().expect("a parent")).expect("mkdir");
    fs::copy(src, &to).expect("copy a library");
}
