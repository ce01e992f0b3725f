//! The conversation engine's own cost (issue 11): the offline engine's overhead per turn
//! (everything but provider time; p50 and p99, target p99 < 1 ms) and whole simulated
//! calls per second at time scale 0, on one thread. Run in release:
//!
//!   cargo bench -p switchboard --no-default-features --bench engine
//!
//! Prints a Markdown table for BENCHMARKS.md.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde_json::{Value, json};

use switchboard::domain::agent::{Agent, AgentSpec};
use switchboard::domain::flow::{EdgeDoc, FlowGraph, NodeDoc, Variables};
use switchboard::engine::call::{
    CallSetup, CallSink, KnowledgeSource, Passage, Persona, TranscriptEntry,
};
use switchboard::engine::conversation::{Conversation, Input, percentile};
use switchboard::engine::sim::{Pace, run_sim_call};

/// The allocator every shipped binary uses (see `switchboard-functions`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Conversations driven for the per-turn figures.
const CONVERSATIONS: usize = 2_000;
/// Sim calls per persona mix for the calls/s figure.
const SIM_CALLS: usize = 5_000;

/// A knowledge source answering from a few in-memory passages (no provider time).
struct Clinic(Vec<Passage>);

#[async_trait]
impl KnowledgeSource for Clinic {
    async fn search(&self, query: &str, limit: usize) -> Vec<Passage> {
        let q = query.to_lowercase();
        self.0
            .iter()
            .filter(|p| {
                q.split_whitespace()
                    .any(|w| w.len() > 3 && p.text.to_lowercase().contains(w))
            })
            .take(limit)
            .cloned()
            .collect()
    }
}

struct NullSink;

#[async_trait]
impl CallSink for NullSink {
    async fn answered(&mut self, _ring_ms: u64) {}
    async fn entry(&mut self, _entry: &TranscriptEntry) {}
}

fn agent(body: Value) -> Agent {
    switchboard::domain::input::from_json(body)
        .and_then(AgentSpec::parse)
        .map(|s| {
            s.into_agent(
                "a".into(),
                "2026-12-01T00:00:00Z".into(),
                "2026-12-01T00:00:00Z".into(),
            )
        })
        .unwrap_or_else(|e| panic!("bench agent: {e:?}"))
}

/// A ten-question intake flow: the offline engine's typical work (ask, validate, branch).
fn intake_flow() -> Arc<FlowGraph> {
    let mut nodes = vec![json!({"id": "start", "type": "start", "data": {}})];
    let mut edges = Vec::new();
    let questions = [
        ("name", "Who am I speaking with?", "none"),
        ("visit", "What date would you like to come in?", "date"),
        ("people", "How many people will come?", "number"),
        ("reminder", "Shall we send you a reminder?", "yes_no"),
    ];
    let mut previous = "start".to_owned();
    for round in 0..3 {
        for (var, question, validation) in questions {
            let id = format!("{var}_{round}");
            nodes.push(json!({"id": id, "type": "ask", "data": {"question": question, "variable": id, "validation": validation}}));
            edges.push(json!({"id": format!("e_{id}"), "source": previous, "target": id}));
            previous = id;
        }
    }
    nodes.push(json!({"id": "route", "type": "condition", "data": {}}));
    nodes.push(json!({"id": "yes", "type": "end", "data": {"text": "Thanks {{name_0}}, see you on {{visit_0}}."}}));
    nodes.push(json!({"id": "no", "type": "end", "data": {"text": "Thanks, goodbye."}}));
    edges.push(json!({"id": "e_route", "source": previous, "target": "route"}));
    edges.push(json!({"id": "e_yes", "source": "route", "target": "yes", "condition": {"variable": "reminder_0", "op": "eq", "value": true}}));
    edges.push(json!({"id": "e_no", "source": "route", "target": "no", "condition": "default"}));
    let nodes: Vec<NodeDoc> = serde_json::from_value(Value::Array(nodes)).unwrap_or_default();
    let edges: Vec<EdgeDoc> = serde_json::from_value(Value::Array(edges)).unwrap_or_default();
    match FlowGraph::parse(&nodes, &edges, &|_: &str| true) {
        Ok(g) => Arc::new(g),
        Err(e) => panic!("bench flow: {:?}", e.fields()),
    }
}

fn setup(agent: Agent, flow: Option<Arc<FlowGraph>>, knowledge: Arc<Clinic>) -> CallSetup {
    CallSetup {
        call_id: "bench".into(),
        agent,
        flow,
        variables: Variables::new().with("today", "2026-12-04"),
        starting_message: None,
        to: "+15005550001".into(),
        from: "+15005550100".into(),
        model: None,
        fallback_model: None,
        knowledge: Some(knowledge),
        tools: None,
    }
}

fn main() {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    };
    let knowledge = Arc::new(Clinic(vec![
        Passage { document_id: "d1".into(), text: "Our opening hours are Monday to Friday, 8:00 to 17:30. We are closed on public holidays.".into(), score: 0.03 },
        Passage { document_id: "d2".into(), text: "Parking is free behind the building. The entrance is on Main Street.".into(), score: 0.02 },
        Passage { document_id: "d3".into(), text: "A check-up costs $49 and takes thirty minutes. Cleaning costs $79.".into(), score: 0.01 },
    ]));
    let flow = intake_flow();
    let answers = [
        "It's Jordan Lee.",
        "The 14th of March 2027 works for me.",
        "Three of us.",
        "Yes please.",
    ];
    let mut overheads: Vec<u64> = Vec::new();
    let started = Instant::now();
    runtime.block_on(async {
        for i in 0..CONVERSATIONS {
            let a = agent(
                json!({"name": "Robin", "system_prompt": "You book visits for Acme Dental."}),
            );
            if i % 2 == 0 {
                // A flow call: twelve asks with typed answers, a branch and an end.
                let mut c = Conversation::new(setup(a, Some(flow.clone()), knowledge.clone()));
                let mut t = 0;
                c.handle(t, Input::Answered, &mut |_| {}).await;
                for k in 0..12 {
                    t += 4_000;
                    c.handle(t, Input::Utterance(answers[k % 4].into()), &mut |_| {})
                        .await;
                }
                overheads.extend_from_slice(c.overheads_us());
            } else {
                // The default script with knowledge questions.
                let mut c = Conversation::new(setup(a, None, knowledge.clone()));
                let lines = [
                    "Yes, I'm interested.",
                    "What are your opening hours?",
                    "Is parking free?",
                    "How much is a check-up?",
                    "Do you do whitening?",
                    "No.",
                    "What about cleaning, how much does cleaning cost?",
                    "No, that's all. Goodbye!",
                ];
                c.handle(0, Input::Answered, &mut |_| {}).await;
                for (k, line) in lines.iter().enumerate() {
                    c.handle(
                        k as u64 * 4_000 + 4_000,
                        Input::Utterance((*line).into()),
                        &mut |_| {},
                    )
                    .await;
                }
                overheads.extend_from_slice(c.overheads_us());
            }
        }
    });
    let conversations_s = started.elapsed().as_secs_f64();

    let personas = [
        Persona::Cooperative,
        Persona::Interested,
        Persona::Callback,
        Persona::NotInterested,
        Persona::DoNotCall,
        Persona::Human,
        Persona::Silent,
        Persona::Voicemail,
        Persona::HangUp,
        Persona::Busy,
    ];
    let mut turns = 0u64;
    let sim_started = Instant::now();
    runtime.block_on(async {
        for i in 0..SIM_CALLS {
            let a = agent(
                json!({"name": "Robin", "system_prompt": "You book visits for Acme Dental."}),
            );
            let flow = (i % 2 == 0).then(|| flow.clone());
            let outcome = run_sim_call(
                setup(a, flow, knowledge.clone()),
                personas[i % personas.len()],
                Pace { scale: 0.0 },
                &mut NullSink,
            )
            .await;
            turns += u64::from(outcome.metrics.turns);
        }
    });
    let sim_s = sim_started.elapsed().as_secs_f64();

    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| agent turns measured | {} (over {CONVERSATIONS} conversations, {conversations_s:.2} s) |",
        overheads.len()
    );
    println!(
        "| engine overhead per turn, p50 | {:.0} µs |",
        percentile(&overheads, 0.50)
    );
    println!(
        "| engine overhead per turn, p99 | {:.0} µs |",
        percentile(&overheads, 0.99)
    );
    println!(
        "| engine overhead per turn, max | {:.0} µs |",
        percentile(&overheads, 1.0)
    );
    println!(
        "| sim calls at scale 0 (10 personas, half with a 12-question flow), one thread | {:.0} calls/s ({SIM_CALLS} calls, {turns} agent turns, {sim_s:.2} s) |",
        SIM_CALLS as f64 / sim_s
    );
}
