mod code;
mod definition;
mod fuzz;
mod http;
mod mcp;
mod parameters;
