//! What a vault serves to other processes: its clients, their grants, the limits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ledger::Grant;

/// How a vault serves other processes (`Builder::serve`): the service's name, each client's
/// name and grant, and the limits. Also reads from JSON.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Grant, ServeConfig};
/// let config = ServeConfig::new("desk")
///     .client("grid-159201", Grant::strategy(BookId::new(0), 2))
///     .client("ops", Grant::all());
/// let same: ServeConfig = serde_json::from_str(r#"{ "name": "desk", "clients": {
///     "grid-159201": { "kinds": ["reserve", "fill", "fill_to", "cancel", "release_order"], "books": [0], "slots": [2] },
///     "ops": { "kinds": ["open_book", "configure_strategy", "set_credit_limit", "reset", "set", "adjust", "allocate", "release", "trade", "reserve", "fill", "cancel", "release_order", "record_alpha", "mark_loss", "fill_to", "expire", "claim_signal", "consume_signal"] } } }"#)?;
/// assert_eq!(config, same);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// The service's name: clients connect to it (`Client::connect`). Letters, digits, `-`, `_`
    /// and `.`, at most 64 bytes.
    pub name: String,
    /// Each client's name (at most 32 bytes) and what it may do. A client whose name is not here
    /// is refused at connect, unless `others` is set.
    #[serde(default)]
    pub clients: BTreeMap<String, Grant>,
    /// The grant of a client whose name is not in `clients`; `None` refuses it.
    #[serde(default)]
    pub others: Option<Grant>,
    /// How many clients may be connected at once (1..=256).
    #[serde(default = "ServeConfig::default_slots")]
    pub slots: usize,
    /// Requests one client may have in flight: the rings' size (a power of two, 1..=4096).
    #[serde(default = "ServeConfig::default_in_flight")]
    pub in_flight_max: usize,
    /// A group whose members may connect too (files 0660, folder 0770); `None`: the vault's
    /// user only (0600, 0700).
    #[serde(default)]
    pub group: Option<u32>,
    /// The acknowledgement that members of `group` are fully trusted: the service file is one
    /// mapping they can all write, so a member can claim any client name (names are not bound
    /// to users) and write into every place's rings. A vault refuses to serve a group without
    /// it (`docs/security.md`, "The gateway").
    #[serde(default)]
    pub group_trusted: bool,
}

impl ServeConfig {
    fn default_slots() -> usize {
        16
    }

    fn default_in_flight() -> usize {
        64
    }

    /// A service named `name` with no clients yet, 16 places, 64 requests in flight each.
    #[must_use]
    pub fn new(name: impl Into<String>) -> ServeConfig {
        ServeConfig {
            name: name.into(),
            clients: BTreeMap::new(),
            others: None,
            slots: Self::default_slots(),
            in_flight_max: Self::default_in_flight(),
            group: None,
            group_trusted: false,
        }
    }

    /// Names a client and what it may do.
    #[must_use]
    pub fn client(mut self, name: impl Into<String>, grant: Grant) -> ServeConfig {
        self.clients.insert(name.into(), grant);
        self
    }

    /// What a client not named may do (`None`: refused).
    #[must_use]
    pub fn others(mut self, grant: Option<Grant>) -> ServeConfig {
        self.others = grant;
        self
    }

    /// How many clients may be connected at once.
    #[must_use]
    pub fn slots(mut self, slots: usize) -> ServeConfig {
        self.slots = slots;
        self
    }

    /// Requests one client may have in flight (a power of two).
    #[must_use]
    pub fn in_flight_max(mut self, in_flight: usize) -> ServeConfig {
        self.in_flight_max = in_flight;
        self
    }

    /// Lets members of `gid` connect too. Alone it does not serve: see
    /// [`ServeConfig::trusted_group`].
    #[must_use]
    pub fn group(mut self, gid: u32) -> ServeConfig {
        self.group = Some(gid);
        self
    }

    /// Lets members of `gid` connect, acknowledging that they are fully trusted: any member may
    /// connect under any client name, with that name's grant, and can write every place's
    /// rings (`docs/security.md`, "The gateway"). Serve each strategy user its own vault
    /// service, or run the strategies as the vault's user, where that is not acceptable.
    #[must_use]
    pub fn trusted_group(mut self, gid: u32) -> ServeConfig {
        self.group = Some(gid);
        self.group_trusted = true;
        self
    }

    /// The setting that is out of range, if one is.
    pub(crate) fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if !valid_name(&self.name, 64) {
            return Err(("serve name", "letters, digits, '-', '_' and '.', 1 to 64 bytes"));
        }
        if self.clients.keys().any(|name| !valid_name(name, super::layout::NAME_MAX)) {
            return Err(("serve client name", "letters, digits, '-', '_' and '.', 1 to 32 bytes"));
        }
        if !(1..=256).contains(&self.slots) {
            return Err(("serve slots", "outside 1..=256"));
        }
        if !(1..=4096).contains(&self.in_flight_max) || !self.in_flight_max.is_power_of_two() {
            return Err(("serve in_flight_max", "not a power of two in 1..=4096"));
        }
        if self.group.is_some() && !self.group_trusted {
            return Err((
                "serve group",
                "group members can claim any client name and write every place's rings: set \
                 group_trusted (ServeConfig::trusted_group) to acknowledge they are fully trusted \
                 (docs/security.md)",
            ));
        }
        Ok(())
    }

    /// The grant of the client named `name`.
    pub(crate) fn grant_of(&self, name: &str) -> Option<&Grant> {
        self.clients.get(name).or(self.others.as_ref())
    }
}

/// A service or client name: safe as a file name, and fits its field.
pub(crate) fn valid_name(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
