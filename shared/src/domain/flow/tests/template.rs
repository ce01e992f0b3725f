//! Templates and the variable store.

use serde_json::json;

use super::super::{Variables, render, template_variables};

fn vars() -> Variables {
    Variables::new()
        .with("contact.name", "Dana")
        .with("context.order_id", "A-1001")
        .with("count", 3)
        .with("vip", true)
        .with("items", json!([{"sku": "X1"}, {"sku": "Y2"}]))
        .with("colors", json!(["red", "blue"]))
        .with("empty", json!(null))
}

#[test]
fn render_fills_placeholders() {
    let cases = [
        ("Hi {{contact.name}}!", "Hi Dana!"),
        ("Hi {{ contact.name }}!", "Hi Dana!"),
        (
            "Order {{context.order_id}}, {{count}} items",
            "Order A-1001, 3 items",
        ),
        ("VIP: {{vip}}", "VIP: true"),
        ("First: {{items.0.sku}}", "First: X1"),
        ("Colors: {{colors}}", "Colors: red, blue"),
        (
            "Missing: [{{nobody}}] [{{empty}}] [{{contact.age}}]",
            "Missing: [] [] []",
        ),
        ("{{contact.name}}{{contact.name}}", "DanaDana"),
        ("Odd: {{first name}} {{", "Odd: {{first name}} {{"),
        ("Object: {{items.1}}", "Object: {\"sku\":\"Y2\"}"),
        ("No placeholders", "No placeholders"),
        ("", ""),
    ];
    for (template, expected) in cases {
        assert_eq!(render(template, &vars()), expected, "{template:?}");
    }
}

#[test]
fn template_variables_lists_each_name_once_in_order() {
    assert_eq!(
        template_variables("{{b}} {{ a.x }} {{b}} {{bad name}} {{c"),
        ["b", "a.x"]
    );
    assert!(template_variables("plain").is_empty());
}

#[test]
fn variables_get_and_set_dotted_paths() {
    let mut v = Variables::new();
    v.set("address.city", json!("Oslo"));
    v.set("address.zip", json!("0150"));
    assert_eq!(
        v.get("address"),
        Some(&json!({"city": "Oslo", "zip": "0150"}))
    );
    v.set("plan", json!("basic"));
    v.set("plan.tier", json!(2));
    assert_eq!(v.get("plan.tier"), Some(&json!(2)));
    let flat: Variables = serde_json::from_value(json!({"contact.name": "Flat"})).expect("vars");
    assert_eq!(flat.get("contact.name"), Some(&json!("Flat")));
    assert_eq!(v.get("address.city.more"), None);
    assert_eq!(
        serde_json::to_value(&v).expect("json")["address"]["city"],
        "Oslo"
    );
}

#[test]
fn hostile_templates_are_scanned_in_linear_time() {
    use std::time::{Duration, Instant};
    let distinct: String = (0..50_000).map(|i| format!("{{{{v{i}}}}}")).collect();
    let cases = [
        "{{".repeat(10_000),
        "{{".repeat(10_000) + "}}",
        "{{{".repeat(10_000) + &"}}}".repeat(10_000),
        "{{a}".repeat(10_000),
        distinct,
    ];
    for template in cases {
        let started = Instant::now();
        let names = template_variables(&template);
        let rendered = render(&template, &vars());
        let took = started.elapsed();
        assert!(took < Duration::from_secs(1), "took {took:?}");
        assert!(rendered.len() <= template.len());
        assert!(names.len() <= 50_000);
    }
}
