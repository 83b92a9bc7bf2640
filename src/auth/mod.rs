//! Authentication: who is calling, and which end user a caller proves it acts for.

pub mod actor_token;
