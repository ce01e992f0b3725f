//! The `code` tool: JavaScript in an embedded QuickJS sandbox.
//!
//! **Contract.** The source is a script that defines a function `main` (a `function`
//! declaration or a top-level `const`/`let` arrow). `main` is called with the validated
//! arguments object as its one parameter, `main(input)`; what it returns, or what the promise
//! it returns resolves to (`async function main` works), converted with `JSON.stringify`, is
//! the tool's output (`undefined` becomes `null`). A thrown error is [`ToolError::Code`] with
//! the message and stack. `console.log/info/warn/error/debug` lines are returned as `logs`
//! (at most [`MAX_LOG_LINES`], each cut at [`MAX_LOG_LINE_CHARS`]).
//!
//! **Sandbox.** The bare ECMAScript standard library and nothing else: no module loader, no
//! `std`/`os` modules, no timers, no network, no file system. Each call gets a fresh runtime
//! (nothing leaks from one call to the next) with a memory cap
//! ([`CODE_MEMORY_LIMIT_BYTES`]), a stack cap ([`CODE_STACK_LIMIT_BYTES`]) and the tool's
//! wall-clock timeout, enforced by QuickJS's interrupt handler (so `while(true){}` stops).
//! It runs on a blocking thread so it never stalls the async runtime.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use rquickjs::allocator::{Allocator, RustAllocator};
use rquickjs::{Context, Ctx, Exception, Function, Runtime, Value as JsValue};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::definition::CodeConfig;
use super::{ToolError, ToolOutput};

/// Memory one call may allocate inside QuickJS.
pub const CODE_MEMORY_LIMIT_BYTES: usize = 32 * 1024 * 1024;
/// The JavaScript stack (deep recursion is a "stack overflow" error, not a crash).
pub const CODE_STACK_LIMIT_BYTES: usize = 512 * 1024;
/// The most log lines kept per call.
pub const MAX_LOG_LINES: usize = 100;
/// The longest log line kept.
pub const MAX_LOG_LINE_CHARS: usize = 2000;
/// The largest output (as JSON text).
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// Installs `console` over one Rust sink, formatting in JS (strings as-is, the rest as JSON).
const PRELUDE: &str = r#"
(() => {
  const sink = globalThis.__switchboard_log;
  delete globalThis.__switchboard_log;
  const show = (v) => {
    if (typeof v === 'string') return v;
    try { const s = JSON.stringify(v); return s === undefined ? String(v) : s; }
    catch (_) { return String(v); }
  };
  const level = (name) => (...args) => sink(name, args.map(show).join(' '));
  globalThis.console = {
    log: level('log'), info: level('info'), warn: level('warn'),
    error: level('error'), debug: level('debug'),
  };
})();
"#;

/// Finds `main`, whether declared with `function` (a global property) or `const`/`let`
/// (a global lexical binding, which only another script can see).
const FIND_MAIN: &str = "typeof main === 'function' ? main : undefined";

/// How long the check on save may spend defining the script's functions.
const CHECK_DEADLINE: Duration = Duration::from_secs(1);
/// The message when the script defines no `main`.
const NO_MAIN: &str = "the code must define function main(input)";

/// Checks on save that `source` can run: it compiles, and its top level (the definitions)
/// runs within a second in the sandbox and leaves a function `main`. `main` itself is
/// never called. The same sandbox and limits as a run, so a tool that saves can run.
pub fn check_syntax(source: &str) -> Result<(), String> {
    let sandbox = Sandbox::new(CHECK_DEADLINE).map_err(|e| e.to_string())?;
    sandbox.context.with(|ctx| {
        let define = || -> rquickjs::Result<bool> {
            sandbox.install_console(&ctx)?;
            ctx.eval::<(), _>(source)?;
            let main: JsValue = ctx.eval(FIND_MAIN)?;
            Ok(main.is_function())
        };
        match define() {
            Ok(true) => Ok(()),
            Ok(false) => Err(NO_MAIN.to_owned()),
            Err(e) => Err(match sandbox.failure(&ctx, e) {
                ToolError::Code(message) => message,
                ToolError::Timeout => format!(
                    "the code's top level ran longer than {} s: define main(input) and do the work inside it",
                    CHECK_DEADLINE.as_secs()
                ),
                other => other.to_string(),
            }),
        }
    })
}

/// How long a run waits for a free sandbox before it is refused with [`ToolError::Busy`].
pub const SANDBOX_QUEUE_WAIT: Duration = Duration::from_secs(2);

/// The sandboxes that may run at once. Each takes a blocking thread and up to
/// [`CODE_MEMORY_LIMIT_BYTES`], so without a cap a burst of tool calls could exhaust the
/// blocking pool and the memory of the process.
#[derive(Debug, Clone)]
pub struct SandboxPool {
    slots: Arc<Semaphore>,
    wait: Duration,
}

impl SandboxPool {
    /// A pool of `slots` sandboxes; a run waits at most `wait` for one.
    pub fn new(slots: usize, wait: Duration) -> SandboxPool {
        SandboxPool {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            wait,
        }
    }

    /// The process-wide pool: two sandboxes per core (a run is mostly waiting for
    /// nothing but its own CPU), waiting [`SANDBOX_QUEUE_WAIT`].
    pub fn global() -> &'static SandboxPool {
        static POOL: LazyLock<SandboxPool> = LazyLock::new(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            SandboxPool::new(cores * 2, SANDBOX_QUEUE_WAIT)
        });
        &POOL
    }

    /// A slot, held until the sandbox's thread is done with it.
    async fn acquire(&self) -> Result<OwnedSemaphorePermit, ToolError> {
        match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(ToolError::Internal("the sandbox pool is closed".into())),
            Err(_) => Err(ToolError::Busy),
        }
    }
}

/// Runs a code tool with `args` (already validated) on a blocking thread, in a slot of
/// the process-wide [`SandboxPool`].
pub async fn run_code(config: &CodeConfig, args: &Value) -> Result<ToolOutput, ToolError> {
    run_code_in(SandboxPool::global(), config, args).await
}

/// [`run_code`] in a given pool.
pub async fn run_code_in(
    pool: &SandboxPool,
    config: &CodeConfig,
    args: &Value,
) -> Result<ToolOutput, ToolError> {
    let started = Instant::now();
    let permit = pool.acquire().await?;
    let source = config.source.clone();
    let args = args.clone();
    let timeout = Duration::from_millis(config.timeout_ms);
    let task = tokio::task::spawn_blocking(move || {
        // Released when the run ends, even if the caller stopped waiting for it.
        let _permit = permit;
        run_blocking(&source, &args, timeout)
    });
    // The interrupt handler stops the script; this outer bound only guards against C code
    // that never reaches an interrupt check. The thread then finishes on its own.
    let joined = tokio::time::timeout(timeout + Duration::from_secs(2), task)
        .await
        .map_err(|_| ToolError::Timeout)?;
    let (output, logs) =
        joined.map_err(|e| ToolError::Internal(format!("the code sandbox failed: {e}")))??;
    Ok(ToolOutput {
        output,
        status: None,
        duration_ms: started.elapsed().as_millis() as u64,
        logs,
    })
}

/// Rust's allocator with a cap, remembering whether it refused anything: QuickJS reports
/// running out of memory as a thrown `null` or an "out of memory" error depending on where
/// it happened, and the memory is freed again by the time the error reaches us, so the
/// allocator is the one reliable witness.
struct CappedAllocator {
    inner: RustAllocator,
    used: usize,
    limit: usize,
    refused: Rc<Cell<bool>>,
}

impl CappedAllocator {
    fn admits(&mut self, extra: usize) -> bool {
        let ok = self
            .used
            .checked_add(extra)
            .is_some_and(|total| total <= self.limit);
        if !ok {
            self.refused.set(true);
        }
        ok
    }
}

// SAFETY: every pointer comes from `RustAllocator` and is handed back to it; the wrapper
// only counts sizes (via `RustAllocator::usable_size`) and refuses requests over the cap by
// returning null, which the `Allocator` contract allows.
unsafe impl Allocator for CappedAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if !self.admits(size) {
            return std::ptr::null_mut();
        }
        let ptr = self.inner.alloc(size);
        if !ptr.is_null() {
            // SAFETY: `ptr` was just allocated by `RustAllocator`.
            self.used += unsafe { RustAllocator::usable_size(ptr) };
        }
        ptr
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else {
            self.refused.set(true);
            return std::ptr::null_mut();
        };
        if !self.admits(total) {
            return std::ptr::null_mut();
        }
        let ptr = self.inner.calloc(count, size);
        if !ptr.is_null() {
            // SAFETY: `ptr` was just allocated by `RustAllocator`.
            self.used += unsafe { RustAllocator::usable_size(ptr) };
        }
        ptr
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        // SAFETY: the caller hands back a pointer this allocator returned.
        unsafe {
            self.used = self.used.saturating_sub(RustAllocator::usable_size(ptr));
            self.inner.dealloc(ptr);
        }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        if ptr.is_null() {
            return self.alloc(new_size);
        }
        // SAFETY: `ptr` is non-null and was returned by this allocator.
        let old = unsafe { RustAllocator::usable_size(ptr) };
        if new_size > old && !self.admits(new_size - old) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above; on failure the old block stays valid and counted.
        let moved = unsafe { self.inner.realloc(ptr, new_size) };
        if !moved.is_null() {
            // SAFETY: `moved` was just returned by `RustAllocator`.
            let now = unsafe { RustAllocator::usable_size(moved) };
            self.used = self.used.saturating_sub(old) + now;
        }
        moved
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: forwarded contract.
        unsafe { RustAllocator::usable_size(ptr) }
    }
}

/// One QuickJS runtime and context with the limits applied.
struct Sandbox {
    // Field order matters: the context must be dropped before its runtime.
    context: Context,
    /// Kept only to outlive the context.
    _runtime: Runtime,
    interrupted: Rc<Cell<bool>>,
    out_of_memory: Rc<Cell<bool>>,
    logs: Rc<RefCell<Vec<String>>>,
}

impl Sandbox {
    fn new(timeout: Duration) -> Result<Sandbox, ToolError> {
        let internal = |e: rquickjs::Error| ToolError::Internal(format!("QuickJS: {e}"));
        let out_of_memory = Rc::new(Cell::new(false));
        let runtime = Runtime::new_with_alloc(CappedAllocator {
            inner: RustAllocator,
            used: 0,
            limit: CODE_MEMORY_LIMIT_BYTES,
            refused: out_of_memory.clone(),
        })
        .map_err(internal)?;
        runtime.set_max_stack_size(CODE_STACK_LIMIT_BYTES);
        let interrupted = Rc::new(Cell::new(false));
        let deadline = Instant::now() + timeout;
        let flag = interrupted.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || {
            if Instant::now() >= deadline {
                flag.set(true);
            }
            flag.get()
        })));
        let context = Context::full(&runtime).map_err(internal)?;
        Ok(Sandbox {
            context,
            _runtime: runtime,
            interrupted,
            out_of_memory,
            logs: Rc::new(RefCell::new(Vec::new())),
        })
    }

    fn install_console(&self, ctx: &Ctx<'_>) -> rquickjs::Result<()> {
        let logs = self.logs.clone();
        let sink = Function::new(ctx.clone(), move |level: String, line: String| {
            let mut logs = logs.borrow_mut();
            if logs.len() > MAX_LOG_LINES {
                return;
            }
            if logs.len() == MAX_LOG_LINES {
                logs.push("… (further log lines dropped)".to_owned());
                return;
            }
            let mut line: String = line.chars().take(MAX_LOG_LINE_CHARS).collect();
            if level != "log" {
                line = format!("[{level}] {line}");
            }
            logs.push(line);
        })?;
        ctx.globals().set("__switchboard_log", sink)?;
        ctx.eval::<(), _>(PRELUDE)
    }

    /// Turns a failed QuickJS call into the tool error it stands for. Runs inside
    /// `Context::with` (the runtime is locked there, so only the flags are read).
    fn failure(&self, ctx: &Ctx<'_>, error: rquickjs::Error) -> ToolError {
        if self.interrupted.get() {
            return ToolError::Timeout;
        }
        if self.out_of_memory.get() {
            return ToolError::MemoryLimit;
        }
        let message = match error {
            rquickjs::Error::Allocation => return ToolError::MemoryLimit,
            rquickjs::Error::Exception => describe_exception(ctx.catch()),
            other => other.to_string(),
        };
        if message.contains("out of memory") {
            return ToolError::MemoryLimit;
        }
        ToolError::Code(message)
    }
}

/// `TypeError: x is not a function` plus the stack, from whatever was thrown.
fn describe_exception(thrown: JsValue<'_>) -> String {
    if let Some(exception) = thrown
        .clone()
        .into_object()
        .and_then(Exception::from_object)
    {
        let name: Option<String> = exception.get("name").ok();
        let message = exception.message().unwrap_or_default();
        let mut text = match name {
            Some(name) if !name.is_empty() => format!("{name}: {message}"),
            _ => message,
        };
        if let Some(stack) = exception.stack().filter(|s| !s.trim().is_empty()) {
            text.push('\n');
            text.push_str(stack.trim_end());
        }
        return text.chars().take(2000).collect();
    }
    if let Some(s) = thrown.as_string().and_then(|s| s.to_string().ok()) {
        return format!("thrown: {s}");
    }
    let ctx = thrown.ctx().clone();
    match ctx.json_stringify(thrown) {
        Ok(Some(s)) => format!(
            "thrown: {}",
            s.to_string()
                .unwrap_or_default()
                .chars()
                .take(2000)
                .collect::<String>()
        ),
        _ => "the code threw a value that cannot be shown".to_owned(),
    }
}

/// Runs `source`'s `main(input)` to completion on the current thread.
pub(crate) fn run_blocking(
    source: &str,
    args: &Value,
    timeout: Duration,
) -> Result<(Value, Vec<String>), ToolError> {
    let sandbox = Sandbox::new(timeout)?;
    let input_json = serde_json::to_string(args).map_err(|e| ToolError::Internal(e.to_string()))?;
    let result = sandbox.context.with(|ctx| {
        let run = || -> rquickjs::Result<Option<String>> {
            sandbox.install_console(&ctx)?;
            ctx.eval::<(), _>(source)?;
            let main: JsValue = ctx.eval(FIND_MAIN)?;
            let Some(main) = main.into_function() else {
                return Err(rquickjs::Error::new_from_js_message(
                    "source", "main", NO_MAIN,
                ));
            };
            let input = ctx.json_parse(input_json.as_str())?;
            let returned: JsValue = main.call((input,))?;
            let value: JsValue = match returned.as_promise() {
                Some(promise) => promise.finish()?,
                None => returned,
            };
            ctx.json_stringify(value)?
                .map(|s| s.to_string())
                .transpose()
        };
        match run() {
            Ok(json) => Ok(json),
            Err(_) if sandbox.interrupted.get() => Err(ToolError::Timeout),
            Err(_) if sandbox.out_of_memory.get() => Err(ToolError::MemoryLimit),
            Err(rquickjs::Error::WouldBlock) => Err(ToolError::Code(
                "main returned a promise that never settles (there are no timers or I/O)".into(),
            )),
            Err(rquickjs::Error::FromJs { message, .. }) if message.as_deref() == Some(NO_MAIN) => {
                Err(ToolError::Code(NO_MAIN.into()))
            }
            Err(e) => Err(sandbox.failure(&ctx, e)),
        }
    });
    let logs = sandbox.logs.borrow().clone();
    let json = result?;
    let output = match json {
        None => Value::Null,
        Some(text) if text.len() > MAX_OUTPUT_BYTES => {
            return Err(ToolError::TooLarge(format!(
                "the output is larger than {MAX_OUTPUT_BYTES} bytes"
            )));
        }
        Some(text) => {
            serde_json::from_str(&text).map_err(|e| ToolError::Internal(e.to_string()))?
        }
    };
    Ok((output, logs))
}
