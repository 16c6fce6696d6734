//! Private key generation, with keys made ahead on idle cores.
//!
//! An RSA-2048 key takes tens of milliseconds of CPU, and a cluster needs
//! ten. The leaves are generated in parallel ([`super::ensure_leaves`]), but
//! the CA must exist before any leaf can be signed, so while its key is
//! being made the other cores would sit idle. [`prefetch`] keeps those
//! cores making keys meanwhile; [`generate`] hands out a ready (or nearly
//! ready) one of the right algorithm before making a new one. A prefetched key nobody takes
//! is dropped with the process: it never leaves memory.

use std::sync::{Condvar, Mutex};

use rcgen::KeyPair;

use super::KeyAlgorithm;

#[derive(Default)]
struct Pool {
    /// Keys made ahead, with their algorithm.
    ready: Vec<(KeyAlgorithm, KeyPair)>,
    /// Keys being made ahead, by algorithm.
    in_flight: Vec<KeyAlgorithm>,
    /// Takers waiting for one of those, by algorithm: each waits for its
    /// own in-flight key, so no more wait than are being made.
    waiting: Vec<KeyAlgorithm>,
}

impl Pool {
    fn count(list: &[KeyAlgorithm], alg: KeyAlgorithm) -> usize {
        list.iter().filter(|a| **a == alg).count()
    }
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    ready: Vec::new(),
    in_flight: Vec::new(),
    waiting: Vec::new(),
});
static READY: Condvar = Condvar::new();

/// Makes a new key (no pool).
pub(crate) fn make(alg: KeyAlgorithm) -> Result<KeyPair, rcgen::Error> {
    match alg {
        KeyAlgorithm::Rsa2048 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        }
        KeyAlgorithm::Rsa3072 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_3072)
        }
        KeyAlgorithm::Rsa4096 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096)
        }
        KeyAlgorithm::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
    }
}

/// Keeps `threads` background threads making keys of `alg` until the
/// returned guard is dropped: each finishes the key it is on, hands it to
/// the pool and stops. So the idle cores stay busy for exactly as long as
/// the caller is busy (the CA's own key), however long that takes. Only
/// worth it for RSA: an ECDSA key takes microseconds, so nothing is started
/// for it.
pub(crate) fn prefetch(alg: KeyAlgorithm, threads: usize) -> Prefetch {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if alg == KeyAlgorithm::EcdsaP256 {
        return Prefetch { stop };
    }
    for _ in 0..threads {
        let stop = stop.clone();
        let _ = std::thread::Builder::new()
            .name("groundup-keygen".into())
            .spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    if let Ok(mut p) = POOL.lock() {
                        p.in_flight.push(alg);
                    }
                    let key = make(alg);
                    if let Ok(mut p) = POOL.lock() {
                        if let Some(i) = p.in_flight.iter().position(|a| *a == alg) {
                            p.in_flight.swap_remove(i);
                        }
                        // A failure is not kept: whoever needs the key
                        // makes one and reports that error.
                        if let Ok(k) = key {
                            p.ready.push((alg, k));
                        }
                    }
                    READY.notify_all();
                }
            });
    }
    Prefetch { stop }
}

/// Stops [`prefetch`]'s threads when dropped.
pub(crate) struct Prefetch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A key of `alg`: one made ahead if there is one, else (when more keys
/// are being made ahead than takers are already waiting for) the next one
/// to finish, else a new one made on this thread.
pub(crate) fn generate(alg: KeyAlgorithm) -> Result<KeyPair, rcgen::Error> {
    if let Ok(mut p) = POOL.lock() {
        loop {
            if let Some(i) = p.ready.iter().position(|(a, _)| *a == alg) {
                return Ok(p.ready.swap_remove(i).1);
            }
            if Pool::count(&p.in_flight, alg) <= Pool::count(&p.waiting, alg) {
                break;
            }
            p.waiting.push(alg);
            p = match READY.wait(p) {
                Ok(p) => p,
                Err(_) => return make(alg),
            };
            if let Some(i) = p.waiting.iter().position(|a| *a == alg) {
                p.waiting.swap_remove(i);
            }
        }
    }
    make(alg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetched_keys_are_handed_out_once_and_then_new_ones_are_made() {
        // RSA-3072 so no other test (they use 2048 and P-256) takes these.
        let ahead = prefetch(KeyAlgorithm::Rsa3072, 2);
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(ahead);
        let keys: Vec<Vec<u8>> = (0..4)
            .map(|_| generate(KeyAlgorithm::Rsa3072).unwrap().serialize_der())
            .collect();
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b, "every key is handed out once");
            }
        }
        // The threads stop after the key they were on.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while POOL
            .lock()
            .unwrap()
            .in_flight
            .contains(&KeyAlgorithm::Rsa3072)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "prefetch threads did not stop"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    #[test]
    fn ecdsa_is_never_made_ahead() {
        let _ahead = prefetch(KeyAlgorithm::EcdsaP256, 4);
        let p = POOL.lock().unwrap();
        assert!(!p.in_flight.contains(&KeyAlgorithm::EcdsaP256));
    }
}
