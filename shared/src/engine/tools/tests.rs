mod code;
mod definition;
mod http;
mod mcp;
mod parameters;
