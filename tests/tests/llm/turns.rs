//! The bounded tool loop with a real tool runner, and the report a model writes.

use super::*;

/// A real tool runner with one code tool.
fn runner() -> LocalToolRunner {
    let tool = ToolDefinition::parse(&json!({
        "name": "add",
        "description": "Adds two numbers.",
        "type": "code",
        "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]},
        "config": {"language": "javascript", "source": "function main(input) { return {sum: input.a + input.b} }"}
    }))
    .expect("a valid tool");
    let client = GuardedClient::new(&GuardConfig::default()).expect("client");
    LocalToolRunner::new([tool], client)
}

#[tokio::test]
async fn a_turn_runs_the_tool_and_hands_its_result_back() {
    for kind in KINDS {
        let double = LlmDouble::start().await;
        double.script([
            Script::tool_call("c1", "add", &["{\"a\": 2,", " \"b\": 3}"]),
            Script::text(&["It is ", "5."]),
        ]);
        let model = client(kind, &double, fast());
        let runner = runner();
        let mut heard = String::new();
        let turn = complete_turn(
            &*model,
            request("what is 2+3?"),
            Some(&runner),
            TurnLimits::default(),
            &mut |t| heard.push_str(t),
        )
        .await
        .expect("a turn");
        assert_eq!(
            (turn.text.as_str(), heard.as_str()),
            ("It is 5.", "It is 5."),
            "{kind:?}"
        );
        assert_eq!(turn.rounds, 2);
        assert_eq!(turn.tools.len(), 1);
        assert_eq!(turn.tools[0].result, r#"{"sum":5}"#);
        assert!(!turn.cut);
        // The second request carried the call and its result, in the provider's shape.
        let second = &double.received()[1].body;
        let carried = match kind {
            Kind::OpenAi => second["messages"][3].clone(),
            Kind::Anthropic => second["messages"][2]["content"][0].clone(),
            Kind::Bedrock => second["messages"][2]["content"][0].clone(),
        };
        let expected = match kind {
            Kind::OpenAi => json!({"role": "tool", "tool_call_id": "c1", "content": "{\"sum\":5}"}),
            Kind::Anthropic => {
                json!({"type": "tool_result", "tool_use_id": "c1", "content": "{\"sum\":5}"})
            }
            Kind::Bedrock => {
                json!({"toolResult": {"toolUseId": "c1", "content": [{"text": "{\"sum\":5}"}]}})
            }
        };
        assert_eq!(carried, expected, "{kind:?}");
    }
}

#[tokio::test]
async fn a_model_that_calls_a_tool_every_round_is_cut_at_the_bound() {
    for kind in KINDS {
        let double = LlmDouble::start().await;
        double.always(Script::tool_call("again", "add", &["{\"a\": 1, \"b\": 1}"]));
        let model = client(kind, &double, fast());
        let runner = runner();
        let limits = TurnLimits {
            max_rounds: 4,
            max_tool_calls: 8,
        };
        let turn = complete_turn(&*model, request("loop"), Some(&runner), limits, &mut |_| {})
            .await
            .expect("a cut turn, not an error");
        assert!(turn.cut, "{kind:?}");
        assert_eq!(turn.rounds, 4);
        assert_eq!(turn.tools.len(), 3, "the last round's call is not run");
        assert_eq!(double.received().len(), 4);
    }
}

fn agent() -> Agent {
    let spec = AgentSpec::parse(
        from_json(json!({
            "name": "Booker",
            "system_prompt": "Book a demo.",
            "data_extraction": [
                {"name": "email", "type": "string"},
                {"name": "seats", "type": "number"},
                {"name": "wants_demo", "type": "boolean"},
                {"name": "demo_day", "type": "date"},
                {"name": "plan", "type": "enum", "options": ["Basic", "Pro"]}
            ]
        }))
        .expect("an object"),
    )
    .expect("a valid agent");
    spec.into_agent("a1".into(), "t".into(), "t".into())
}

fn finished_call() -> CallOutcome {
    let line = |seq, role, text: &str| TranscriptEntry {
        seq,
        role,
        text: text.into(),
        at_ms: u64::from(seq) * 1000,
        interrupted: false,
    };
    CallOutcome {
        answered: true,
        end_reason: EndReason::AgentHungUp,
        duration_ms: 42_000,
        ring_ms: 3000,
        transcript: vec![
            line(1, Role::Agent, "Hi, want a demo?"),
            line(
                2,
                Role::User,
                "Yes, Monday the fifth, for two people, Pro plan.",
            ),
        ],
        variables: json!({}),
        intents: vec![],
        transferred_to: None,
        metrics: CallMetrics::default(),
    }
}

#[tokio::test]
async fn a_model_writes_a_typed_report_and_wrong_types_become_null() {
    for kind in KINDS {
        let double = LlmDouble::start().await;
        double.script([
            Script::new(Reply::Json(json!({
                "summary": "The callee booked a Pro demo for two.",
                "outcome": "interested", "sentiment": "positive", "success": true,
                "next_steps": ["Send the invite"],
                "extracted_data": {"email": null, "seats": 2, "wants_demo": true, "demo_day": "2026-01-05", "plan": "pro"}
            }))),
            Script::new(Reply::Json(json!({
                "summary": "Unclear.", "outcome": "completed", "sentiment": "meh", "success": "yes",
                "next_steps": "call again",
                "extracted_data": {"email": 5, "seats": "two", "wants_demo": "yes", "demo_day": "Monday", "plan": "Gold", "extra": 1}
            }))),
            Script::new(Reply::Json(json!({"summary": "x", "outcome": "delighted"}))),
        ]);
        let model = client(kind, &double, fast());
        let (agent, call) = (agent(), finished_call());

        let report = analyse_with_model(&*model, &agent, &call)
            .await
            .expect("a report");
        assert_eq!(report.outcome, Outcome::Interested, "{kind:?}");
        assert_eq!(report.sentiment, Sentiment::Positive);
        assert!(report.success);
        assert_eq!(report.next_steps, ["Send the invite"]);
        assert_eq!(
            Value::Object(report.extracted_data),
            json!({"email": null, "seats": 2, "wants_demo": true, "demo_day": "2026-01-05", "plan": "Pro"})
        );
        // The request asked for the agent's schema, in the provider's way.
        let sent = &double.received()[0].body;
        let schema = match kind {
            Kind::OpenAi => sent["response_format"]["json_schema"]["schema"].clone(),
            Kind::Anthropic => sent["tools"][0]["input_schema"].clone(),
            Kind::Bedrock => {
                sent["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"].clone()
            }
        };
        assert_eq!(
            schema["properties"]["extracted_data"]["properties"]["demo_day"]["format"], "date",
            "{kind:?}"
        );
        assert!(
            sent.to_string().contains("Monday the fifth"),
            "the transcript is sent"
        );

        let sloppy = analyse_with_model(&*model, &agent, &call)
            .await
            .expect("a report");
        assert_eq!(
            Value::Object(sloppy.extracted_data),
            json!({"email": null, "seats": null, "wants_demo": null, "demo_day": null, "plan": null})
        );
        assert_eq!(
            (sloppy.sentiment, sloppy.success),
            (Sentiment::Neutral, false)
        );
        assert!(sloppy.next_steps.is_empty());

        let unusable = analyse_with_model(&*model, &agent, &call).await;
        assert!(
            matches!(unusable, Err(LlmError::InvalidResponse(_))),
            "{kind:?}: {unusable:?}"
        );
    }
}
