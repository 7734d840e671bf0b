//! `state`: the OCI state of a container, as JSON on stdout.

use super::{container, Error};
use crate::cli::GlobalOpts;
use crate::state::State;

pub fn command(g: &GlobalOpts, id: &str) -> Result<(), Error> {
    let c = container(g, id)?;
    // No lock: state files are replaced atomically, so a read is whole.
    let state = State::load(&c)?;
    let json = serde_json::to_string_pretty(&state.oci()).unwrap_or_default();
    println!("{json}");
    Ok(())
}
