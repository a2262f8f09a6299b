//! atende: a self-hosted contact-center telephony server.
//!
//! Layers, bottom up: pure cores (`call`, `sdp`, `events`, the SIP rules in `digest`,
//! `sip::location`, `sip::auth_limit`, media timing in `media::stream`) know nothing of
//! sockets, clocks or databases; the IO shells (`sip`, `media`, `store`, `api`) feed them
//! and carry out their decisions; `floor` is where the actors that own agents, queues and
//! live calls sit, with the handles the SIP edge, the API and the CTI command them by;
//! `app` assembles a running server. `dirwatch` is the
//! file-system watch that the IVR flows and the prompt library share for live changes.

pub mod acd;
pub mod admin_client;
pub mod api;
pub mod app;
pub mod audit;
pub mod bus;
pub mod call;
pub mod closing;
pub mod config;
pub mod contract;
pub mod cti;
pub mod digest;
pub mod dirwatch;
pub mod events;
pub mod export;
pub mod floor;
pub mod ivr;
pub mod lifecycle;
pub mod mail;
pub mod media;
pub mod memory;
pub mod projector;
pub mod quality;
pub mod registration;
pub mod reload;
pub mod reports;
pub mod schedule;
pub mod screen_pop;
pub mod sdp;
pub mod sip;
pub mod store;
pub mod survey;
pub mod template;
#[doc(hidden)]
pub mod testkit;
pub mod users;
