//! The migrations. `nublado` reads each Phalanx environment's place in the nublado v2 → v3
//! migration; its stages and the hub move come with later capabilities.

pub mod nublado;
