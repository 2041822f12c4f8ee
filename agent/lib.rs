//! dutywatch: turns a Customer Responsibility Matrix into duties with
//! deadlines and checks them against evidence. See ARCHITECTURE.md.

pub mod acks;
pub mod cli;
pub mod clock;
pub mod cmmc;
pub mod config;
pub mod coverage;
pub mod daemon;
pub mod demo;
pub mod digest;
pub mod engine;
pub mod escalation;
pub mod export;
pub mod html;
pub mod incident;
pub mod mail;
pub mod manual;
mod out_dir;
pub mod parse_cache;
pub mod schedule;
pub mod secret;
pub mod sources;
pub mod sprs;
pub mod status;
pub mod store;
pub mod systemd;
pub mod telemetry;
