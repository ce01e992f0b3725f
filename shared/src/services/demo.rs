//! The test-mode sandbox's demo data (SPEC §1 `?mode=test`): seeded once per
//! org, on the first test-mode request.

use serde_json::json;

use super::table_keys::SEEDED_SK;
use crate::App;
use crate::domain::input::from_json;
use crate::domain::{Mode, Tenant};
use crate::error::Result;
use crate::store::{Condition, Item, StoreError};

/// Seeds `tenant` with demo data unless it has it. Live tenants are never touched.
pub async fn ensure_seeded(app: &App, tenant: &Tenant) -> Result<()> {
    if tenant.mode != Mode::Test {
        return Ok(());
    }
    let key = tenant.pk();
    if app.seeded.lock().is_ok_and(|s| s.contains(&key)) {
        return Ok(());
    }
    // The marker is claimed first, so concurrent first requests seed once.
    let marker = Item::new(
        key.clone(),
        SEEDED_SK,
        json!({"seeded_at": app.now_rfc3339()}),
    );
    match app.table.put(marker, Condition::MustNotExist).await {
        Ok(_) => {
            if let Err(e) = seed(app, tenant).await {
                // Let the next request try again rather than leave half a sandbox.
                let _ = app.table.delete(&key, SEEDED_SK, Condition::None).await;
                return Err(e);
            }
        }
        Err(StoreError::ConditionFailed) => {}
        Err(e) => return Err(e.into()),
    }
    if let Ok(mut s) = app.seeded.lock() {
        s.insert(key);
    }
    Ok(())
}

async fn seed(app: &App, tenant: &Tenant) -> Result<()> {
    let flow_doc = super::flows::demo_document();
    let flow = super::flows::insert(app, tenant, from_json(flow_doc)?).await?;
    let agent = json!({
        "flow_id": flow.id,
        "name": "Demo Receptionist",
        "description": "A sample agent for trying Switchboard in test mode.",
        "system_prompt": "You are the friendly receptionist of Harbor Lane Dental. Answer questions about opening hours, \
                          services and prices, and book appointments. Keep answers short: you are on the phone.",
        "llm_model": "offline",
        "greeting": "Hello, thanks for calling Harbor Lane Dental. How can I help you today?",
        "end_call_phrases": ["goodbye", "have a great day"],
        "data_extraction": [
            {"name": "caller_name", "type": "string", "description": "The caller's name"},
            {"name": "wants_appointment", "type": "boolean", "description": "Whether the caller wants to book"}
        ]
    });
    let agent = super::agents::insert(app, tenant, from_json(agent)?).await?;
    let tool = super::tools::demo_document();
    let tool = super::tools::insert(app, tenant, from_json(tool)?).await?;
    super::assignments::assign(
        app,
        tenant,
        super::assignments::Assignable::Tool,
        &agent.id,
        &tool.id,
    )
    .await?;
    // The built-in simulated carrier, so test-mode calls have a line to use.
    let channel = json!({
        "name": "Demo simulated line",
        "type": "sim",
        "phone_numbers": ["+15555550100"],
        "default_agent_id": agent.id,
    });
    super::channels::insert(app, tenant, from_json(channel)?).await?;
    // Finished calls, made by actually running the simulated carrier.
    for (name, number, customer) in [
        ("Book a check-up", "+15005550007", "Maria Lopez"),
        ("Follow up on a quote", "+15005550009", "James Chen"),
    ] {
        let task = json!({
            "agent_id": agent.id,
            "name": name,
            "to_number": number,
            "context_data": {"customer_name": customer},
        });
        let task = super::tasks::insert(app, tenant, from_json(task)?).await?;
        super::calls::runner::run_task_now(app, tenant, &task.id).await?;
    }
    Ok(())
}
