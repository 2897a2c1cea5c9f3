//! Salted content commitments: `sha256(salt || content)`, hex encoded.
//!
//! Audit events refer to content only through these commitments. The salt lives beside the content, never in the
//! event, so erasing content (and its salt) later leaves every event verifiable and the content unguessable.

use sha2::{Digest, Sha256};

/// Length of the random salt stored beside each piece of committed content.
pub const SALT_LEN: usize = 16;

/// A per-row random salt.
#[derive(Clone, PartialEq, Eq)]
pub struct Salt(pub [u8; SALT_LEN]);

impl std::fmt::Debug for Salt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Salt(..)")
    }
}

impl Salt {
    /// Rebuilds a salt from stored bytes; `None` when the length is wrong.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; SALT_LEN]>::try_from(bytes).ok().map(Self)
    }
}

/// The commitment to `content` under `salt`, as 64 lowercase hex characters.
pub fn commit(salt: &Salt, content: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.0);
    hasher.update(content);
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commitment_depends_on_salt_and_content() {
        let a = commit(&Salt([0; SALT_LEN]), b"hello");
        let b = commit(&Salt([1; SALT_LEN]), b"hello");
        let c = commit(&Salt([0; SALT_LEN]), b"hellp");
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, commit(&Salt([0; SALT_LEN]), b"hello"));
    }
}
