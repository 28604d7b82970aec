//! What the vault writes, only its user can touch, and nothing planted beside it is followed:
//! the data folder is 0700 and every file 0600 whatever the umask (0750/0640 with
//! `FileAccess::Group`); a lock file, mirror or data folder of another user is refused; a
//! symlink planted at a temporary or final name is never written through; and recovery touches
//! only the vault's own file names. One test, because the umask is per process. Runs as root in
//! CI, which lets it plant files owned by another user.

#![allow(unsafe_code)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use capvault::{Builder, FileAccess, Limits, ShmError, ShmReader, SpawnError};
use common::*;

const NOBODY: u32 = 65_534;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capvault-file-safety-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
}

fn run(dir: &Path, shm: &Path, json: &Path, access: FileAccess) {
    let mut handle = Builder::new(seed_000(Limits::default()))
        .data_dir(dir)
        .file_access(access)
        .mirror_shm(shm)
        .mirror_json(json)
        .checkpoint_every(2, Duration::from_secs(3600))
        .spawn()
        .unwrap();
    for n in 1..=6 {
        handle.submit(buy(id(n), 2, 1, units(10))).unwrap();
    }
    handle.shutdown().unwrap();
}

#[test]
fn files_are_private_and_nothing_planted_is_followed() {
    // SAFETY: geteuid takes nothing and cannot fail.
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test plants other users' files: run it as root");
    // SAFETY: umask only changes this process's file-creation mask.
    let old = unsafe { libc::umask(0) };
    modes_ignore_the_umask();
    foreign_files_are_refused();
    planted_symlinks_are_not_followed();
    recovery_touches_only_its_own_names();
    // SAFETY: as above.
    unsafe { libc::umask(old) };
}

fn modes_ignore_the_umask() {
    for (access, dir_mode, file_mode) in
        [(FileAccess::Owner, 0o700, 0o600), (FileAccess::Group, 0o750, 0o640)]
    {
        let root = scratch(&format!("modes-{dir_mode:o}"));
        fs::create_dir_all(&root).unwrap();
        let dir = root.join("data");
        let (shm, json) = (root.join("ledger.shm"), root.join("shared_pool.json"));
        run(&dir, &shm, &json, access);
        assert_eq!(mode(&dir), dir_mode, "data folder");
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            assert_eq!(mode(&path), file_mode, "{}", path.display());
        }
        for path in [shm.clone(), PathBuf::from(format!("{}.lock", shm.display())), json] {
            assert_eq!(mode(&path), file_mode, "{}", path.display());
        }
        let _ = fs::remove_dir_all(&root);
    }
}

fn foreign_files_are_refused() {
    let root = scratch("foreign");
    fs::create_dir_all(&root).unwrap();
    // Another user's lock file inside the data folder.
    let dir = root.join("data");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(dir.join("LOCK"), b"").unwrap();
    chown(&dir.join("LOCK"), NOBODY);
    let spawn = |dir: &Path| Builder::new(seed_000(Limits::default())).data_dir(dir).spawn();
    assert!(matches!(spawn(&dir), Err(SpawnError::UnsafePath { .. })), "a foreign lock file");
    // A data folder anyone may write into, and one of another user.
    let open = root.join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    assert!(matches!(spawn(&open), Err(SpawnError::UnsafePath { .. })), "a world-writable folder");
    let theirs = root.join("theirs");
    fs::create_dir(&theirs).unwrap();
    chown(&theirs, NOBODY);
    assert!(matches!(spawn(&theirs), Err(SpawnError::UnsafePath { .. })), "another user's folder");
    // A squatted mirror: another user's lock file at the path, or another user's mirror file.
    let shm = root.join("squat.shm");
    fs::write(root.join("squat.shm.lock"), b"").unwrap();
    chown(&root.join("squat.shm.lock"), NOBODY);
    let mirrored = Builder::new(seed_000(Limits::default())).mirror_shm(&shm).spawn();
    assert!(matches!(mirrored, Err(SpawnError::Shm(ShmError::Unsafe { .. }))), "a squatted lock file");
    let (good, forged) = (root.join("good.shm"), root.join("forged.shm"));
    Builder::new(seed_000(Limits::default())).mirror_shm(&good).spawn().unwrap().shutdown().unwrap();
    fs::copy(&good, &forged).unwrap();
    chown(&forged, NOBODY);
    assert!(matches!(ShmReader::open(&forged), Err(ShmError::Unsafe { .. })), "a forged mirror is shown");
    assert!(
        ShmReader::open_owned_by(&forged, NOBODY).is_ok(),
        "named explicitly, another user's mirror opens"
    );
    let _ = fs::remove_dir_all(&root);
}

fn planted_symlinks_are_not_followed() {
    let root = scratch("symlinks");
    fs::create_dir_all(&root).unwrap();
    let victim = root.join("victim.txt");
    fs::write(&victim, b"precious").unwrap();
    let (dir, shm, json) = (root.join("data"), root.join("ledger.shm"), root.join("shared_pool.json"));
    // The temporary names of the previous build, and a few guesses.
    for name in ["shared_pool.json.tmp", "ledger.shm.tmp"] {
        std::os::unix::fs::symlink(&victim, root.join(name)).unwrap();
    }
    std::os::unix::fs::symlink(&victim, root.join(format!("ledger.shm.{}.tmp", std::process::id()))).unwrap();
    run(&dir, &shm, &json, FileAccess::Owner);
    assert_eq!(fs::read(&victim).unwrap(), b"precious", "a planted symlink was written through");
    assert!(fs::symlink_metadata(&json).unwrap().is_file());
    // A symlink at the mirror's own path is refused, not replaced or followed.
    let linked = root.join("linked.shm");
    std::os::unix::fs::symlink(&victim, &linked).unwrap();
    let mirrored = Builder::new(seed_000(Limits::default())).mirror_shm(&linked).spawn();
    assert!(matches!(mirrored, Err(SpawnError::Shm(ShmError::Unsafe { .. }))));
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    let _ = fs::remove_dir_all(&root);
}

fn recovery_touches_only_its_own_names() {
    let dir = scratch("own-names");
    run(&dir, &dir.with_extension("shm"), &dir.with_extension("json"), FileAccess::Owner);
    fs::write(dir.join("notes.txt.tmp"), b"mine").unwrap();
    fs::create_dir(dir.join("build.tmp")).unwrap();
    fs::write(dir.join("checkpoint-00000000000000000099.ckpt.tmp"), b"an old-style name").unwrap();
    let handle =
        Builder::new(seed_000(Limits::default())).data_dir(&dir).spawn().expect("starts beside them");
    handle.shutdown().unwrap();
    assert_eq!(fs::read(dir.join("notes.txt.tmp")).unwrap(), b"mine");
    assert!(dir.join("build.tmp").is_dir());
    assert!(dir.join("checkpoint-00000000000000000099.ckpt.tmp").exists());
    // The vault's own unfinished checkpoint is removed.
    let own = dir.join("checkpoint-00000000000000000099.ckpt.0123456789abcdef.tmp");
    fs::write(&own, b"half").unwrap();
    Builder::new(seed_000(Limits::default())).data_dir(&dir).spawn().unwrap().shutdown().unwrap();
    assert!(!own.exists());
    for path in [dir.with_extension("shm"), dir.with_extension("json")] {
        let _ = fs::remove_file(path);
    }
    let _ = fs::remove_dir_all(&dir);
}
