//! The pool of Atlassian accounts shared by every simulated site.
//!
//! Accounts are global at Atlassian, so one pool serves all sites: authors,
//! mentions and the v1 user endpoints all draw from it. Immutable once
//! generated; it holds no site data.

use std::collections::HashMap;

use crate::rng::Rng;
use crate::site::words::{FIRST_NAMES, LAST_NAMES, TIME_ZONES};

/// What the v1 user API says about an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserState {
    Active,
    /// Deactivated by an admin: still resolvable, email hidden.
    Deactivated,
    /// Deleted (anonymised): resolvable as "Former user".
    Deleted,
    /// Referenced by content but unknown to the user API (404 / left out of bulk).
    Unknown,
}

/// One account.
#[derive(Debug, Clone)]
pub struct User {
    pub account_id: String,
    pub display_name: String,
    pub public_name: String,
    /// `None`: the field is absent; `Some("")`: hidden by privacy settings.
    pub email: Option<String>,
    pub time_zone: Option<&'static str>,
    pub state: UserState,
}

/// All accounts, addressable by index (compact references from content) and
/// by account id.
#[derive(Debug, Default)]
pub struct UserPool {
    users: Vec<User>,
    by_account: HashMap<String, u32>,
}

impl UserPool {
    pub(crate) fn generate(seed: u64, count: usize) -> Self {
        let mut rng = Rng::for_parts(seed, &[0x05E5]);
        let mut pool = UserPool::default();
        for index in 0..count.max(1) {
            let user = make_user(&mut rng, index);
            pool.by_account
                .insert(user.account_id.clone(), index as u32);
            pool.users.push(user);
        }
        pool
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The user at `index`, clamped into range (indexes come from generated data).
    pub fn get(&self, index: u32) -> &User {
        let i = (index as usize).min(self.users.len().saturating_sub(1));
        &self.users[i]
    }

    pub fn by_account(&self, account_id: &str) -> Option<&User> {
        self.by_account
            .get(account_id)
            .map(|i| &self.users[*i as usize])
    }

    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.users.iter()
    }

    /// Index of a user that writes content: a skewed pick (a few people write
    /// most pages), from any state.
    pub(crate) fn pick_author(&self, rng: &mut Rng) -> u32 {
        let n = self.users.len() as u64;
        let u = rng.below(n * n);
        // sqrt of a uniform in [0, n^2) is skewed towards n; invert it to
        // favour low indexes.
        let skewed = n - 1 - (u as f64).sqrt() as u64;
        skewed.min(n - 1) as u32
    }

    /// Index of an active user (for mentions and new edits).
    pub(crate) fn pick_active(&self, rng: &mut Rng) -> u32 {
        for _ in 0..16 {
            let i = self.pick_author(rng);
            if self.users[i as usize].state == UserState::Active {
                return i;
            }
        }
        0
    }
}

fn make_user(rng: &mut Rng, index: usize) -> User {
    let first = rng.pick(FIRST_NAMES);
    let last = rng.pick(LAST_NAMES);
    let display_name = format!("{first} {last}");
    let account_id = match rng.below(20) {
        0..=13 => format!("{:016x}{:08x}", rng.next_u64(), rng.next_u64() >> 32),
        14..=18 => format!("557058:{}", rng.uuid()),
        _ => format!("712020:{}", rng.uuid()),
    };
    // The first account is the site admin who consents: always active.
    let state = if index == 0 {
        UserState::Active
    } else {
        match rng.below(100) {
            0..=4 => UserState::Deactivated,
            5..=6 => UserState::Deleted,
            7..=9 => UserState::Unknown,
            _ => UserState::Active,
        }
    };
    let email = match (state, rng.below(3)) {
        (UserState::Active, 0) | (UserState::Deactivated, 0) => None,
        (UserState::Active, 1) => Some(format!(
            "{}.{}@example.com",
            first.to_lowercase(),
            last.to_lowercase().replace('\'', "")
        )),
        _ => Some(String::new()),
    };
    let (display_name, public_name) = if state == UserState::Deleted {
        ("Former user".to_owned(), "Former user".to_owned())
    } else {
        let public = if rng.chance(1, 3) {
            first.to_string()
        } else {
            display_name.clone()
        };
        (display_name, public)
    };
    User {
        account_id,
        display_name,
        public_name,
        email,
        time_zone: if rng.chance(1, 2) {
            Some(*rng.pick(TIME_ZONES))
        } else {
            None
        },
        state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_has_realistic_ids_and_some_inactive_accounts() {
        let pool = UserPool::generate(5, 400);
        assert_eq!(pool.get(0).state, UserState::Active);
        assert!(pool.iter().any(
            |u| u.account_id.len() == 24 && u.account_id.bytes().all(|b| b.is_ascii_hexdigit())
        ));
        assert!(pool.iter().any(|u| u.account_id.starts_with("557058:")));
        for state in [
            UserState::Deactivated,
            UserState::Deleted,
            UserState::Unknown,
        ] {
            assert!(pool.iter().any(|u| u.state == state), "{state:?}");
        }
        let first = pool.get(3).account_id.clone();
        assert_eq!(pool.by_account(&first).unwrap().account_id, first);
    }
}
