//! Bounded-memory storage for the two big per-record structures of near
//! dedup: LSH band entries and MinHash signatures. Both stay in memory
//! while they fit their budget and spill to files in a temporary directory
//! beyond it, so the corpus never has to fit in RAM.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::{Mmap, UncheckedAdvice};
use tempfile::TempDir;

use crate::{Error, Result};

const ENTRY_BYTES: usize = 12; // u64 key + u32 group, little endian

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Spill {
        path: path.to_path_buf(),
        source,
    }
}

const SPILL_PREFIX: &str = "curagate-spill-";
/// Length of the random suffix of a spill directory's name (tempfile's alphanumerics).
const SPILL_RAND_LEN: usize = 12;
/// Owner marker, written into a spill directory as soon as it is made and locked: this
/// host's name (see [`host_name`]). Only a directory this host marked, or an empty one, is
/// ever removed by [`remove_dead`].
const SPILL_MARKER: &str = ".curagate-spill";

/// Lazily created spill directory (removed on drop), held locked (`flock`) by this run
/// while it exists: the system drops the lock when the run ends, killed or not, so the
/// next run removes a killed run's (see [`remove_dead`]), and never a live one's.
#[derive(Debug)]
pub struct SpillDir {
    parent: Option<PathBuf>,
    // Removed before its lock is released (fields drop in order).
    dir: Option<TempDir>,
    lock: Option<File>,
}

impl SpillDir {
    /// The spill directory of a run, made in `parent` (the system temp dir by default)
    /// once something spills; the spill directories killed runs left there go now.
    pub fn new(parent: Option<PathBuf>) -> Self {
        remove_dead(&parent.clone().unwrap_or_else(std::env::temp_dir));
        Self {
            parent,
            dir: None,
            lock: None,
        }
    }

    fn path(&mut self) -> Result<&Path> {
        while self.dir.is_none() {
            let parent = self.parent.clone().unwrap_or_else(std::env::temp_dir);
            std::fs::create_dir_all(&parent).map_err(io_err(&parent))?;
            let dir = tempfile::Builder::new()
                .prefix(SPILL_PREFIX)
                .rand_bytes(SPILL_RAND_LEN)
                .tempdir_in(&parent)
                .map_err(io_err(&parent))?;
            // Removed by another run between its creation and our lock: made again.
            let lock = match File::open(dir.path()) {
                Ok(lock) => lock,
                Err(_) if !dir.path().exists() => continue,
                Err(e) => return Err(io_err(dir.path())(e)),
            };
            // No lock on this filesystem: judged live by every run, as before.
            let _ = lock.lock();
            // Removed while still empty (by another run, here before our lock or on another
            // host): made again.
            let marker = dir.path().join(SPILL_MARKER);
            match std::fs::write(&marker, host_name().unwrap_or_default()) {
                Ok(()) => {}
                Err(_) if !dir.path().exists() => continue,
                Err(e) => return Err(io_err(&marker)(e)),
            }
            if dir.path().is_dir() {
                self.dir = Some(dir);
                self.lock = Some(lock);
            }
        }
        Ok(self.dir.as_ref().expect("created above").path())
    }
}

/// Remove the spill directories in `parent` whose run is gone: those whose lock (see
/// [`SpillDir`]) can be taken. A run killed while it spilled (SIGKILL, the OOM killer)
/// left its spill files there for good. Only a directory this code made is touched: named
/// as [`SpillDir`] names them (prefix and [`SPILL_RAND_LEN`] alphanumerics) and either
/// empty (a run killed before its marker) or marked by a run on this host; another host's
/// lock may not be seen here, and a user's look-alike folder is not ours. One that cannot
/// be locked is left alone.
fn remove_dead(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let host = host_name();
    for entry in entries.flatten() {
        let ours = entry
            .file_name()
            .to_str()
            .and_then(|name| name.strip_prefix(SPILL_PREFIX))
            .is_some_and(|rand| {
                rand.len() == SPILL_RAND_LEN && rand.bytes().all(|b| b.is_ascii_alphanumeric())
            });
        if !ours || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue; // a link is never followed
        }
        let path = entry.path();
        let Ok(dir) = File::open(&path) else {
            continue;
        };
        if dir.try_lock().is_err() || std::fs::remove_dir(&path).is_ok() {
            continue; // live, or empty and now gone
        }
        let marker = path.join(SPILL_MARKER);
        let marked_here = std::fs::symlink_metadata(&marker).is_ok_and(|m| m.is_file())
            && std::fs::read_to_string(&marker).is_ok_and(|m| host.as_deref() == Some(&*m));
        if marked_here {
            let _ = std::fs::remove_dir_all(&path); // its lock held meanwhile
        }
    }
}

/// This host's name, as the system gives it (the Python side's HOST tag hashes the same
/// name); `None` where it cannot be read, and then no marked directory is taken for ours.
fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim_end_matches('\n');
    (!name.is_empty()).then(|| name.to_owned())
}

/// LSH band entries `(key, group)`, hash-partitioned by key so that all
/// entries of one bucket land in one partition, processed one at a time.
///
/// Each partition holds at most its share of the budget in memory (its
/// buffer is allocated once at that size, so growth never overshoots) and
/// appends to its own file when full.
#[derive(Debug)]
pub struct BandStore {
    buffers: Vec<Vec<(u64, u32)>>,
    files: Vec<Option<(PathBuf, BufWriter<File>)>>,
    per_partition: usize,
    pub spilled_bytes: u64,
}

impl BandStore {
    pub fn new(partitions: usize, budget_bytes: usize) -> Self {
        let partitions = partitions.next_power_of_two().max(1);
        let budget_entries = budget_bytes / std::mem::size_of::<(u64, u32)>();
        Self {
            buffers: (0..partitions).map(|_| Vec::new()).collect(),
            files: (0..partitions).map(|_| None).collect(),
            per_partition: (budget_entries / partitions).max(64),
            spilled_bytes: 0,
        }
    }

    fn partition_of(&self, key: u64) -> usize {
        // High bits: the low bits are the ones buckets are sorted on.
        (key >> 40) as usize & (self.buffers.len() - 1)
    }

    pub fn push(&mut self, key: u64, group: u32, spill: &mut SpillDir) -> Result<()> {
        let p = self.partition_of(key);
        let buf = &mut self.buffers[p];
        if buf.capacity() == 0 {
            // Grow by doubling up to the share, never past it.
            buf.reserve_exact(64.min(self.per_partition));
        } else if buf.len() == buf.capacity() && buf.len() < self.per_partition {
            let grow = buf.len().min(self.per_partition - buf.len());
            buf.reserve_exact(grow);
        }
        buf.push((key, group));
        if buf.len() >= self.per_partition {
            self.spill_partition(p, spill)?;
        }
        Ok(())
    }

    fn spill_partition(&mut self, p: usize, spill: &mut SpillDir) -> Result<()> {
        if self.files[p].is_none() {
            let path = spill.path()?.join(format!("bands-{p:04}.bin"));
            let file = File::create(&path).map_err(io_err(&path))?;
            self.files[p] = Some((path, BufWriter::with_capacity(1 << 16, file)));
        }
        let (path, w) = self.files[p].as_mut().expect("opened above");
        for &(key, group) in &self.buffers[p] {
            w.write_all(&key.to_le_bytes()).map_err(io_err(path))?;
            w.write_all(&group.to_le_bytes()).map_err(io_err(path))?;
        }
        self.spilled_bytes += (self.buffers[p].len() * ENTRY_BYTES) as u64;
        self.buffers[p].clear(); // keeps its (budgeted) capacity for reuse
        Ok(())
    }

    pub fn partitions(&self) -> usize {
        self.buffers.len()
    }

    /// All entries of partition `p` (spilled and in memory), consuming it.
    pub fn take_partition(&mut self, p: usize) -> Result<Vec<(u64, u32)>> {
        let mut entries = std::mem::take(&mut self.buffers[p]);
        entries.shrink_to_fit();
        if let Some((path, w)) = self.files[p].take() {
            let file = w.into_inner().map_err(|e| Error::Spill {
                path: path.clone(),
                source: e.into_error(),
            })?;
            drop(file);
            let mut bytes = Vec::new();
            File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .map_err(io_err(&path))?;
            entries.reserve(bytes.len() / ENTRY_BYTES);
            for chunk in bytes.chunks_exact(ENTRY_BYTES) {
                let key = u64::from_le_bytes(chunk[..8].try_into().expect("8 bytes"));
                let group = u32::from_le_bytes(chunk[8..].try_into().expect("4 bytes"));
                entries.push((key, group));
            }
            std::fs::remove_file(&path).map_err(io_err(&path))?;
        }
        Ok(entries)
    }
}

/// Records of u32 words indexed by group id (fixed-width MinHash signatures,
/// or variable-length shingle sets): a Vec while it fits `budget_bytes`, then
/// appended to a file that is memory-mapped for reading.
///
/// Pages of the map that reads touch count in the process's RSS although
/// the kernel can drop them; [`WordStore::relieve`] unmaps them from the
/// process once reads may have mapped [`MAP_RELIEF_BYTES`] (the data stays
/// in the page cache, the next read maps it back), so the map adds at most
/// about that much to RSS.
#[derive(Debug)]
pub struct WordStore {
    name: &'static str,
    offsets: Vec<u64>,
    mem: Vec<u32>,
    budget_words: usize,
    file: Option<(PathBuf, BufWriter<File>)>,
    flushed: usize,
    map: Option<Mmap>,
    touched: AtomicU64,
    pub spilled_bytes: u64,
}

/// Bytes of mapped spill data read between two reliefs.
pub const MAP_RELIEF_BYTES: u64 = 64 << 20;
const FAULT_AROUND_BYTES: u64 = 64 << 10;

impl WordStore {
    pub fn new(name: &'static str, budget_bytes: usize) -> Self {
        Self {
            name,
            offsets: vec![0],
            mem: Vec::new(),
            budget_words: (budget_bytes / 4).max(1 << 16),
            file: None,
            flushed: 0,
            map: None,
            touched: AtomicU64::new(0),
            spilled_bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, words: &[u32], spill: &mut SpillDir) -> Result<()> {
        if self.mem.capacity() - self.mem.len() < words.len() {
            // Double, but never past the budget (plus this record).
            let want = (self.mem.len() + words.len())
                .max(self.mem.capacity() * 2)
                .min(self.budget_words.max(self.mem.len() + words.len()));
            self.mem.reserve_exact(want - self.mem.len());
        }
        self.mem.extend_from_slice(words);
        self.offsets.push((self.flushed + self.mem.len()) as u64);
        if self.mem.len() >= self.budget_words {
            self.flush(spill)?;
        }
        Ok(())
    }

    fn flush(&mut self, spill: &mut SpillDir) -> Result<()> {
        if self.file.is_none() {
            let path = spill.path()?.join(format!("{}.bin", self.name));
            let file = File::create(&path).map_err(io_err(&path))?;
            self.file = Some((path, BufWriter::with_capacity(1 << 20, file)));
        }
        let (path, w) = self.file.as_mut().expect("opened above");
        let bytes = words_as_bytes(&self.mem);
        w.write_all(bytes).map_err(io_err(path))?;
        self.spilled_bytes += bytes.len() as u64;
        self.flushed += self.mem.len();
        self.mem.clear();
        Ok(())
    }

    /// Switch to read mode: spilled records become a memory map.
    pub fn seal(&mut self, spill: &mut SpillDir) -> Result<()> {
        if self.file.is_some() {
            self.flush(spill)?;
            let (path, w) = self.file.take().expect("checked above");
            let file = w.into_inner().map_err(|e| Error::Spill {
                path: path.clone(),
                source: e.into_error(),
            })?;
            drop(file);
            // Everything is in the file now: give the write buffer back.
            self.mem = Vec::new();
            let file = File::open(&path).map_err(io_err(&path))?;
            // SAFETY: the file is private to this process (in our own temp dir)
            // and is not modified while mapped.
            let map = unsafe { Mmap::map(&file) }.map_err(io_err(&path))?;
            self.map = Some(map);
        }
        Ok(())
    }

    pub fn get(&self, group: u32) -> &[u32] {
        let (start, end) = (
            self.offsets[group as usize] as usize,
            self.offsets[group as usize + 1] as usize,
        );
        match &self.map {
            Some(map) => {
                if start == end {
                    return &[];
                }
                let bytes = &map[start * 4..end * 4];
                // A fault maps up to 16 pages around the one read (Linux
                // fault-around): count that, not just the bytes asked for.
                self.touched
                    .fetch_add(bytes.len() as u64 + FAULT_AROUND_BYTES, Ordering::Relaxed);
                // SAFETY: mmap is page aligned, offsets are multiples of 4 and
                // the data was written from u32s in native byte order.
                unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<u32>(), end - start) }
            }
            None => &self.mem[start..end],
        }
    }
}

impl WordStore {
    /// Unmap the pages of the spill map from the process once reads have
    /// touched [`MAP_RELIEF_BYTES`] since the last relief. Call between
    /// batches of reads (no slice from [`WordStore::get`] may be alive: the
    /// borrow checker sees to it, as this takes `&mut self`).
    pub fn relieve(&mut self) {
        if *self.touched.get_mut() < MAP_RELIEF_BYTES {
            return;
        }
        *self.touched.get_mut() = 0;
        if let Some(map) = &self.map {
            // SAFETY: a private read-only file map: MADV_DONTNEED only drops
            // this process's page mappings; the next read faults the same
            // file bytes back in (from the page cache or the file).
            let _ = unsafe { map.unchecked_advise(UncheckedAdvice::DontNeed) };
        }
    }
}

fn words_as_bytes(words: &[u32]) -> &[u8] {
    // SAFETY: u32 has no padding; any byte pattern is a valid u8.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), std::mem::size_of_val(words)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spill directory as a run killed after it marked it would leave it.
    fn left_by_a_killed_run(parent: &Path, rand: &str, host: Option<&str>) -> PathBuf {
        let dir = parent.join(format!("{SPILL_PREFIX}{rand}"));
        std::fs::create_dir(&dir).unwrap();
        if let Some(host) = host {
            std::fs::write(dir.join(SPILL_MARKER), host).unwrap();
        }
        std::fs::write(dir.join("bands-0000.bin"), b"spilled").unwrap();
        dir
    }

    #[test]
    fn a_dead_runs_spill_dir_is_removed_and_a_live_ones_kept() {
        let parent = tempfile::tempdir().unwrap();
        let host = host_name().expect("this host's name");
        let dead = left_by_a_killed_run(parent.path(), "Killed000run", Some(&host));
        let empty = parent.path().join(format!("{SPILL_PREFIX}Killed0mkdir"));
        std::fs::create_dir(&empty).unwrap(); // killed before its marker
        let mut live = SpillDir::new(Some(parent.path().to_path_buf()));
        assert!(!dead.exists());
        assert!(!empty.exists());
        let live_path = live.path().unwrap().to_path_buf();
        let _next = SpillDir::new(Some(parent.path().to_path_buf()));
        assert!(live_path.is_dir());
        drop(live);
        assert!(!live_path.exists());
    }

    #[test]
    fn only_spill_dirs_this_host_made_are_removed() {
        let parent = tempfile::tempdir().unwrap();
        let host = host_name().expect("this host's name");
        let kept = [
            // A user's folders: not the name form a run makes, or it without a marker.
            left_by_a_killed_run(parent.path(), "my-experiment-notes", Some(&host)),
            left_by_a_killed_run(parent.path(), "Killed00run", Some(&host)),
            left_by_a_killed_run(parent.path(), "Killed0-0run", Some(&host)),
            left_by_a_killed_run(parent.path(), "Killed000run", None),
            // Another host's (its lock may be node-local, so free here while it runs).
            left_by_a_killed_run(parent.path(), "OtherHost000", Some(&format!("{host}x"))),
        ];
        let marker_link = left_by_a_killed_run(parent.path(), "MarkerLink00", None);
        std::fs::write(parent.path().join("host"), &host).unwrap();
        std::os::unix::fs::symlink(parent.path().join("host"), marker_link.join(SPILL_MARKER))
            .unwrap();
        let _run = SpillDir::new(Some(parent.path().to_path_buf()));
        for dir in kept.iter().chain([&marker_link]) {
            assert!(dir.join("bands-0000.bin").is_file(), "{}", dir.display());
        }
    }

    #[test]
    fn a_killed_runs_own_spill_dir_is_removed_by_the_next() {
        let parent = tempfile::tempdir().unwrap();
        let mut run = SpillDir::new(Some(parent.path().to_path_buf()));
        let path = run.path().unwrap().to_path_buf();
        std::fs::write(path.join("bands-0000.bin"), b"spilled").unwrap();
        // Killed: the folder stays, its lock goes.
        let left = run.dir.take().unwrap().keep();
        drop(run);
        assert!(left.join("bands-0000.bin").is_file());
        let _next = SpillDir::new(Some(parent.path().to_path_buf()));
        assert!(!left.exists());
    }

    #[test]
    fn partitions_spill_alone_and_never_grow_past_their_share() {
        let mut spill = SpillDir::new(None);
        let mut store = BandStore::new(2, 2 * 1024 * 16); // 1024 entries per partition
        for i in 0..3000u64 {
            store.push(i << 40, i as u32, &mut spill).unwrap(); // alternate partitions
            assert!(store.buffers.iter().all(|b| b.capacity() <= 1024));
        }
        let got: usize = (0..2).map(|p| store.take_partition(p).unwrap().len()).sum();
        assert_eq!(got, 3000);
    }

    #[test]
    fn band_entries_survive_a_spill() {
        let mut spill = SpillDir::new(None);
        let mut store = BandStore::new(4, 0); // budget floor: 64 entries per partition
        for i in 0..5000u32 {
            store
                .push(
                    (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    i,
                    &mut spill,
                )
                .unwrap();
        }
        assert!(store.spilled_bytes > 0);
        let mut all: Vec<u32> = (0..store.partitions())
            .flat_map(|p| store.take_partition(p).unwrap())
            .map(|(_, g)| g)
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..5000).collect::<Vec<_>>());
    }

    #[test]
    fn signatures_read_back_from_the_map() {
        let mut spill = SpillDir::new(None);
        let mut store = WordStore::new("sigs", 0); // floor: 65536 words in memory
        for g in 0..60_000u32 {
            let len = (g % 5) as usize; // variable length, empty records included
            let words: Vec<u32> = (0..len as u32).map(|k| g + k).collect();
            store.push(&words, &mut spill).unwrap();
        }
        store.seal(&mut spill).unwrap();
        assert!(store.spilled_bytes > 0);
        assert_eq!(store.get(0), [] as [u32; 0]);
        assert_eq!(store.get(4), [4, 5, 6, 7]);
        assert_eq!(store.get(59_999), [59_999, 60_000, 60_001, 60_002]);
        assert_eq!(store.len(), 60_000);
        // Reads stay correct after the map's pages are dropped.
        store.touched.store(MAP_RELIEF_BYTES, Ordering::Relaxed);
        store.relieve();
        assert_eq!(store.get(4), [4, 5, 6, 7]);
        assert_eq!(store.get(59_999), [59_999, 60_000, 60_001, 60_002]);
    }
}
