use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::engine::tools::code::{MAX_LOG_LINES, SandboxPool, check_syntax, run_code, run_code_in};
use crate::engine::tools::{CodeConfig, CodeLanguage, ToolError};

fn code(source: &str, timeout_ms: u64) -> CodeConfig {
    CodeConfig {
        language: CodeLanguage::Javascript,
        source: source.to_owned(),
        timeout_ms,
    }
}

async fn run(source: &str, args: Value) -> Result<crate::engine::tools::ToolOutput, ToolError> {
    run_code(&code(source, 1000), &args).await
}

#[tokio::test]
async fn main_gets_the_arguments_and_its_result_is_the_output() {
    let out = run(
        "function main(input) { return { sum: input.a + input.b, names: input.names.map(n => n.toUpperCase()) } }",
        json!({"a": 2, "b": 3, "names": ["ada"]}),
    )
    .await
    .unwrap();
    assert_eq!(out.output, json!({"sum": 5, "names": ["ADA"]}));
    assert_eq!(out.status, None);

    let arrow = run(
        "const main = (input) => `hi ${input.name}`;",
        json!({"name": "Bo"}),
    )
    .await
    .unwrap();
    assert_eq!(arrow.output, json!("hi Bo"));

    let nothing = run("function main() {}", json!({})).await.unwrap();
    assert_eq!(nothing.output, Value::Null);
}

#[tokio::test]
async fn async_main_and_promises_are_resolved() {
    let out = run(
        "async function main(input) { const x = await Promise.resolve(input.n); return x * 2 }",
        json!({"n": 21}),
    )
    .await
    .unwrap();
    assert_eq!(out.output, json!(42));

    let rejected = run(
        "async function main() { throw new RangeError('nope') }",
        json!({}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&rejected, ToolError::Code(m) if m.contains("RangeError") && m.contains("nope")),
        "{rejected:?}"
    );

    let never = run(
        "function main() { return new Promise(() => {}) }",
        json!({}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&never, ToolError::Code(m) if m.contains("never settles")),
        "{never:?}"
    );
}

#[tokio::test]
async fn console_lines_are_captured() {
    let out = run(
        "console.log('loading');\nfunction main(input) { console.log('got', input, 3); console.warn('careful'); console.error(new Error('x').message); return 1 }",
        json!({"a": 1}),
    )
    .await
    .unwrap();
    assert_eq!(
        out.logs,
        vec!["loading", r#"got {"a":1} 3"#, "[warn] careful", "[error] x"]
    );

    let flood = run(
        "function main() { for (let i = 0; i < 1000; i++) console.log('line ' + i); return 0 }",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(flood.logs.len(), MAX_LOG_LINES + 1);
}

#[tokio::test]
async fn thrown_errors_and_a_missing_main_are_code_errors() {
    let err = run("function main(input) { return input.x.y }", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ToolError::Code(m) if m.contains("TypeError")),
        "{err:?}"
    );

    let err = run("function helper() {}", json!({})).await.unwrap_err();
    assert_eq!(
        err,
        ToolError::Code("the code must define function main(input)".into())
    );

    let err = run("function main() { throw 'plain' }", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ToolError::Code(m) if m.contains("plain")),
        "{err:?}"
    );

    let err = run(
        "function f() { return f() }\nfunction main() { return f() }",
        json!({}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ToolError::Code(m) if m.to_lowercase().contains("stack")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_runaway_loop_times_out() {
    let started = Instant::now();
    let err = run_code(
        &code("function main() { while (true) {} }", 300),
        &json!({}),
    )
    .await
    .unwrap_err();
    assert_eq!(err, ToolError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(5));

    let top_level = run_code(&code("for (;;) {}\nfunction main() {}", 200), &json!({}))
        .await
        .unwrap_err();
    assert_eq!(top_level, ToolError::Timeout);

    let async_spin = run_code(
        &code("async function main() { for (;;) { await null } }", 200),
        &json!({}),
    )
    .await
    .unwrap_err();
    assert_eq!(async_spin, ToolError::Timeout);
}

#[tokio::test]
async fn an_allocation_bomb_hits_the_memory_limit() {
    for source in [
        "function main() { let a = []; while (true) a.push(new Array(1e6)) }",
        "function main() { const parts = []; while (true) parts.push('x'.repeat(1 << 20) + parts.length) }",
        "function main() { const a = []; while (true) a.push({ n: a.length, s: 'abcdefgh' + a.length }) }",
    ] {
        let err = run_code(&code(source, 5000), &json!({})).await.unwrap_err();
        assert_eq!(err, ToolError::MemoryLimit, "{source}");
    }
    // The process is fine and the next call starts clean.
    let out = run("function main() { return 'still here' }", json!({}))
        .await
        .unwrap();
    assert_eq!(out.output, json!("still here"));
}

#[tokio::test]
async fn the_sandbox_has_no_host_access() {
    let out = run(
        "function main() { return [typeof require, typeof process, typeof fetch, typeof std, typeof os, typeof XMLHttpRequest, typeof setTimeout] }",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(out.output, json!(vec!["undefined"; 7]));

    let err = run(
        "async function main() { return await import('os') }",
        json!({}),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ToolError::Code(_)), "{err:?}");

    // Nothing survives from one call to the next.
    run(
        "globalThis.leak = 1; function main() { return 1 }",
        json!({}),
    )
    .await
    .unwrap();
    let out = run("function main() { return typeof leak }", json!({}))
        .await
        .unwrap();
    assert_eq!(out.output, json!("undefined"));
}

#[test]
fn syntax_errors_are_reported_with_their_line() {
    check_syntax("function main(input) { return input }").unwrap();
    let message = check_syntax("function main(input) {\n  return input +\n}").unwrap_err();
    assert!(message.contains("SyntaxError"), "{message}");
}

#[tokio::test]
async fn a_string_that_outgrows_quickjs_is_a_clear_error() {
    // Doubling builds a rope that hits QuickJS's length limit before the memory cap.
    let err = run_code(
        &code(
            "function main() { let s = 'x'; while (true) s = s + s }",
            5000,
        ),
        &json!({}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ToolError::MemoryLimit)
            || matches!(&err, ToolError::Code(m) if m.contains("string too long")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_code_tool_runs_through_the_local_runner_with_checked_arguments() {
    use crate::engine::tools::{LocalToolRunner, ToolDefinition, ToolRunner};
    use crate::net::{GuardConfig, GuardedClient};
    let tool = ToolDefinition::parse(&json!({
        "name": "quote_price",
        "description": "Prices an order",
        "type": "code",
        "parameters": {
            "type": "object",
            "properties": {"qty": {"type": "integer", "minimum": 1}, "unit": {"type": "number"}},
            "required": ["qty", "unit"]
        },
        "config": {"source": "function main({ qty, unit }) { console.log('pricing', qty); return { total: qty * unit } }"}
    }))
    .unwrap();
    let runner = LocalToolRunner::new([tool], GuardedClient::new(&GuardConfig::default()).unwrap());
    let out = runner
        .call("quote_price", json!({"qty": 3, "unit": 2.5}))
        .await
        .unwrap();
    assert_eq!(out.output, json!({"total": 7.5}));
    assert_eq!(out.logs, ["pricing 3"]);
    let err = runner
        .call("quote_price", json!({"qty": 0}))
        .await
        .unwrap_err();
    let ToolError::InvalidArguments(fields) = err else {
        panic!("{err:?}")
    };
    assert!(fields.contains_key("input.qty"));
    assert_eq!(fields["input.unit"], "is required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_beyond_the_pool_wait_then_are_refused_as_busy() {
    let pool = SandboxPool::new(2, Duration::from_millis(100));
    let spin = code("function main() { for (;;) {} }", 1_500);
    let (a, b) = (pool.clone(), pool.clone());
    let (s1, s2) = (spin.clone(), spin.clone());
    let first = tokio::spawn(async move { run_code_in(&a, &s1, &json!({})).await });
    let second = tokio::spawn(async move { run_code_in(&b, &s2, &json!({})).await });
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Both slots are taken: a third run waits its 100 ms, then is refused without running.
    let started = Instant::now();
    let refused = run_code_in(
        &pool,
        &code("function main() { return 1 }", 1_000),
        &json!({}),
    )
    .await
    .unwrap_err();
    assert_eq!(refused, ToolError::Busy);
    assert!(started.elapsed() < Duration::from_millis(1_000));
    assert_eq!(
        crate::error::Error::from(refused).to_string(),
        "too many code tools are running at once; try again in a moment"
    );

    // Once the spinning runs time out, their slots are free again.
    assert_eq!(first.await.unwrap().unwrap_err(), ToolError::Timeout);
    assert_eq!(second.await.unwrap().unwrap_err(), ToolError::Timeout);
    let out = run_code_in(
        &pool,
        &code("function main() { return 1 }", 1_000),
        &json!({}),
    )
    .await
    .unwrap();
    assert_eq!(out.output, json!(1));
}
