//! Tests of the selector model, validation and matching. Expectations are written out by hand
//! (unit tests) or computed by a separate evaluator over `serde_json::Value` (corpus tests).

use serde_json::{Value, json};

use super::*;
use crate::record::{AccountId, Category, Limits, Record, StrField, validate};

fn limits() -> Limits {
    Limits {
        max_record_bytes: 262_144,
        default_account: AccountId::parse("123456789012"),
    }
}

fn rec(v: &Value) -> Record {
    validate(v.to_string().as_bytes(), &limits()).expect("valid record")
}

fn base() -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice",
                         "accountId": "123456789012"},
        "eventTime": "2024-01-02T03:04:05Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "DescribeInstances",
        "awsRegion": "eu-west-1",
        "eventID": "b7d4398e-b2f0-4faa-9c76-e2d316a8d67f",
        "eventType": "AwsApiCall",
        "readOnly": true,
        "managementEvent": true,
        "eventCategory": "Management"
    })
}

fn with(mut v: Value, changes: Value) -> Value {
    let (Some(o), Value::Object(c)) = (v.as_object_mut(), changes) else {
        panic!("objects expected");
    };
    for (k, x) in c {
        if x.is_null() {
            o.remove(&k);
        } else {
            o.insert(k, x);
        }
    }
    v
}

fn advanced(v: Value) -> Selectors {
    let list: Vec<AdvancedEventSelector> = serde_json::from_value(v).expect("selectors");
    Selectors::from_put(None, Some(list)).expect("valid advanced selectors")
}

fn basic(v: Value) -> Selectors {
    let list: Vec<EventSelectorInput> = serde_json::from_value(v).expect("selectors");
    Selectors::from_put(Some(list), None).expect("valid basic selectors")
}

fn put_error(body: Value) -> SelectorError {
    let input: PutEventSelectorsInput = serde_json::from_value(body).expect("request");
    Selectors::from_input(input).expect_err("must be refused")
}

fn m(sel: &Selectors, r: &Value) -> bool {
    Compiled::compile(sel).matches(&rec(r))
}

// ---------------------------------------------------------------- model

#[test]
fn default_selectors_answer_as_aws() {
    let d = Selectors::default();
    assert!(!d.has_custom_event_selectors());
    assert_eq!(
        d.response("arn:aws:cloudtrail:us-east-1:123456789012:trail/t"),
        json!({"TrailARN": "arn:aws:cloudtrail:us-east-1:123456789012:trail/t",
               "EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": true,
                                   "DataResources": [], "ExcludeManagementEventSources": []}]})
    );
    let c = Compiled::compile(&d);
    assert!(c.is_default());
    assert!(Compiled::default().is_default());
    // A Put of the default selector is custom, but compiles to the default behaviour.
    let same = basic(json!([{"ReadWriteType": "All"}]));
    assert!(same.has_custom_event_selectors());
    assert!(Compiled::compile(&same).is_default());
    assert!(!Compiled::compile(&basic(json!([{"ReadWriteType": "ReadOnly"}]))).is_default());
    let adv = advanced(
        json!([{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]),
    );
    assert!(!Compiled::compile(&adv).is_default());
}

#[test]
fn selectors_persist_and_echo() {
    let b = basic(json!([{"ReadWriteType": "WriteOnly",
        "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::b/"]}]}]));
    assert_eq!(
        b.response("arn")["EventSelectors"],
        json!([{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": true,
                "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::b/"]}],
                "ExcludeManagementEventSources": []}])
    );
    let a_json = json!([{"Name": "n", "FieldSelectors": [
        {"Field": "eventName", "StartsWith": ["Get"], "NotEquals": ["GetObject"]}]}]);
    let a = advanced(a_json.clone());
    let resp = a.response("arn");
    assert_eq!(resp["AdvancedEventSelectors"], a_json);
    assert!(resp.get("EventSelectors").is_none());
    for s in [Selectors::Default, b, a] {
        let text = serde_json::to_string(&s).expect("json");
        let back: Selectors = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, s, "{text}");
    }
    assert_eq!(
        serde_json::to_string(&Selectors::Default).expect("json"),
        "\"Default\""
    );
    // Stored selectors are validated again when read.
    let bad =
        r#"{"AdvancedEventSelectors":[{"FieldSelectors":[{"Field":"bogus","Equals":["x"]}]}]}"#;
    assert!(serde_json::from_str::<Selectors>(bad).is_err());
}

// ---------------------------------------------------------------- validation

fn adv_error(fields: Value) -> SelectorError {
    put_error(json!({"TrailName": "t", "AdvancedEventSelectors": [{"FieldSelectors": fields}]}))
}

fn is_invalid_selectors(e: &SelectorError) {
    assert_eq!(e.exception(), "InvalidEventSelectorsException", "{e}");
    assert!(!e.message().is_empty());
}

#[test]
fn both_or_neither_list_is_a_parameter_combination_error() {
    let e = put_error(json!({"TrailName": "t", "EventSelectors": [],
                             "AdvancedEventSelectors": []}));
    assert_eq!(e.exception(), "InvalidParameterCombinationException");
    let e = put_error(json!({"TrailName": "t"}));
    assert_eq!(e.exception(), "InvalidParameterCombinationException");
    assert!(
        e.to_string()
            .starts_with("InvalidParameterCombinationException: ")
    );
}

#[test]
fn basic_selector_rules() {
    let six: Vec<Value> = (0..6).map(|_| json!({})).collect();
    is_invalid_selectors(&put_error(json!({"EventSelectors": six})));
    let five: Vec<Value> = (0..5).map(|_| json!({})).collect();
    assert!(
        Selectors::from_put(Some(serde_json::from_value(json!(five)).expect("v")), None).is_ok()
    );
    is_invalid_selectors(&put_error(
        json!({"EventSelectors": [{"ReadWriteType": "Both"}]}),
    ));
    for (kind, value) in [
        ("AWS::S3::Bucket", "arn:aws:s3:::b/"),
        ("AWS::S3::Object", "arn:aws:s3:::b"),
        ("AWS::S3::Object", "arn:aws:lambda"),
        ("AWS::S3::Object", "s3://b/"),
        ("AWS::Lambda::Function", "arn:aws:s3"),
        ("AWS::DynamoDB::Table", "arn:aws:dynamodb:"),
    ] {
        let e = put_error(
            json!({"EventSelectors": [{"DataResources": [{"Type": kind, "Values": [value]}]}]}),
        );
        is_invalid_selectors(&e);
    }
    is_invalid_selectors(&put_error(
        json!({"EventSelectors": [{"DataResources": [{"Type": "AWS::S3::Object", "Values": []}]}]}),
    ));
    let many = |n: usize| -> Value {
        let values: Vec<String> = (0..n)
            .map(|i| format!("arn:aws:lambda:us-east-1:123456789012:function:f{i}"))
            .collect();
        json!({"EventSelectors": [
            {"DataResources": [{"Type": "AWS::Lambda::Function", "Values": values}]},
            {"DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}]}]})
    };
    let ok: PutEventSelectorsInput = serde_json::from_value(many(250)).expect("input");
    assert!(
        Selectors::from_input(ok).is_ok(),
        "250 plus an all-objects value is fine"
    );
    is_invalid_selectors(&put_error(many(251)));
    is_invalid_selectors(&put_error(
        json!({"EventSelectors": [{"ExcludeManagementEventSources": [""]}]}),
    ));
}

#[test]
fn advanced_selector_rules() {
    is_invalid_selectors(&adv_error(json!([])));
    is_invalid_selectors(&adv_error(json!([{"Field": "eventName"}])));
    is_invalid_selectors(&adv_error(json!([{"Field": "eventName", "Equals": []}])));
    is_invalid_selectors(&adv_error(
        json!([{"Field": "event Name", "Equals": ["x"]}]),
    ));
    is_invalid_selectors(&adv_error(json!([{"Field": "", "Equals": ["x"]}])));
    let e = adv_error(json!([{"Field": "managementEvent", "Equals": ["true"]}]));
    is_invalid_selectors(&e);
    assert!(e.message().contains("not supported"), "{e}");
    for field in ["readOnly", "eventCategory", "resources.type"] {
        for op in [
            "StartsWith",
            "EndsWith",
            "NotEquals",
            "NotStartsWith",
            "NotEndsWith",
        ] {
            let e = adv_error(json!([{"Field": field, op: ["true"]}]));
            is_invalid_selectors(&e);
            assert!(e.message().contains("only Equals"), "{e}");
        }
    }
    is_invalid_selectors(&adv_error(
        json!([{"Field": "readOnly", "Equals": ["yes"]}]),
    ));
    is_invalid_selectors(&adv_error(
        json!([{"Field": "eventCategory", "Equals": ["management"]}]),
    ));
    assert!(
        Selectors::from_put(
            None,
            Some(
                serde_json::from_value(json!([{"FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Management", "Data", "NetworkActivity"]},
        {"Field": "readOnly", "Equals": ["true", "false"]}]}]))
                .expect("v")
            )
        )
        .is_ok()
    );
    is_invalid_selectors(&adv_error(json!([{"Field": "eventName", "Equals": [""]}])));
    let long: String = "é".repeat(2049);
    is_invalid_selectors(&adv_error(
        json!([{"Field": "eventName", "Equals": [long]}]),
    ));
    let max: String = "é".repeat(2048);
    assert!(
        Selectors::from_put(
            None,
            Some(
                serde_json::from_value(json!([{"FieldSelectors": [
        {"Field": "eventName", "Equals": [max]}]}]))
                .expect("v")
            )
        )
        .is_ok()
    );
    let name: String = "n".repeat(1001);
    is_invalid_selectors(&put_error(json!({"AdvancedEventSelectors": [{"Name": name,
        "FieldSelectors": [{"Field": "eventName", "Equals": ["x"]}]}]})));
    let values = |n: usize| -> Value {
        let v: Vec<String> = (0..n).map(|i| format!("E{i}")).collect();
        json!({"AdvancedEventSelectors": [
            {"FieldSelectors": [{"Field": "eventName", "Equals": v}]},
            {"FieldSelectors": [{"Field": "eventSource", "NotEquals": ["a", "b"]}]}]})
    };
    let ok: PutEventSelectorsInput = serde_json::from_value(values(498)).expect("input");
    assert!(Selectors::from_input(ok).is_ok());
    is_invalid_selectors(&put_error(values(499)));
}

// ---------------------------------------------------------------- field extraction

#[test]
fn fields_are_extracted_unescaped_and_after_time_rewrite() {
    let r = with(
        base(),
        json!({"eventName": "Describe\u{e9}\"Instances",
               "eventTime": "2024-01-02T05:04:05.123+02:00",
               "errorCode": "AccessDenied", "vpcEndpointId": null,
               "resources": [{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::b/k\\1"},
                             {"ARN": 5}, {"accountId": "1"}]}),
    );
    // serde_json writes é as UTF-8 and the quote escaped: force an \u escape too.
    let text = r.to_string().replace('é', "\\u00e9");
    let record = validate(text.as_bytes(), &limits()).expect("valid");
    let f = &record.fields;
    let b = record.bytes.as_slice();
    assert_eq!(
        f.get(b, StrField::EventName),
        Some("Describeé\"Instances".as_bytes())
    );
    assert_eq!(f.get(b, StrField::ErrorCode), Some(&b"AccessDenied"[..]));
    assert_eq!(
        f.get(b, StrField::EventSource),
        Some(&b"ec2.amazonaws.com"[..])
    );
    assert_eq!(f.get(b, StrField::EventType), Some(&b"AwsApiCall"[..]));
    assert_eq!(
        f.get(b, StrField::UserIdentityArn),
        Some(&b"arn:aws:iam::123456789012:user/alice"[..])
    );
    assert_eq!(f.get(b, StrField::VpcEndpointId), None);
    assert_eq!(f.read_only, Some(true));
    assert_eq!(f.category, Category::Management);
    let res = f.resources();
    assert_eq!(res.len(), 3);
    assert_eq!(f.resolve(b, res[0].arn), Some(&b"arn:aws:s3:::b/k\\1"[..]));
    assert_eq!(f.resolve(b, res[0].kind), Some(&b"AWS::S3::Object"[..]));
    assert_eq!(
        (f.resolve(b, res[1].arn), f.resolve(b, res[1].kind)),
        (None, None)
    );
    // The eventTime was rewritten (shorter), spans after it still point at their values.
    assert!(
        std::str::from_utf8(b)
            .expect("utf8")
            .contains("\"2024-01-02T03:04:05Z\"")
    );
    let no_cat = rec(&with(
        base(),
        json!({"eventCategory": null, "readOnly": null}),
    ));
    assert_eq!(no_cat.fields.category, Category::Management);
    assert_eq!(no_cat.fields.read_only, None);
    let data = rec(&with(base(), json!({"eventCategory": "Data"})));
    assert_eq!(data.fields.category, Category::Data);
    let odd = rec(&with(base(), json!({"eventCategory": "Weird"})));
    assert_eq!(odd.fields.category, Category::Other);
    let num = rec(&with(
        base(),
        json!({"eventCategory": 5, "errorCode": null}),
    ));
    assert_eq!(num.fields.category, Category::Management);
    assert_eq!(num.fields.get(&num.bytes, StrField::ErrorCode), None);
}

#[test]
fn records_keep_their_verdicts_with_resources_extracted() {
    let ok = with(base(), json!({"resources": []}));
    assert!(validate(ok.to_string().as_bytes(), &limits()).is_ok());
    let bad = with(base(), json!({"resources": [{"ARN": "a"}, 7]}));
    let e = validate(bad.to_string().as_bytes(), &limits()).expect_err("refused");
    assert_eq!(e.detail, "resources[1] must be an object, got a number");
    // A member name that does not decode inside a resource: accepted (raw-mode retry), no ARN.
    let text = base().to_string().replace(
        "\"readOnly\":true",
        "\"readOnly\":true,\"resources\":[{\"\\udc00\":1,\"ARN\":\"x\"}]",
    );
    let r = validate(text.as_bytes(), &limits()).expect("accepted as before");
    assert_eq!(r.fields.resources().len(), 1);
}

// ---------------------------------------------------------------- operators

/// A record with every string field set.
fn full() -> Value {
    with(
        base(),
        json!({"errorCode": "Client.UnauthorizedOperation", "vpcEndpointId": "vpce-0abc",
               "sessionCredentialFromConsole": "true",
               "resources": [{"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::logs"},
                             {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::logs/a/b.txt"}]}),
    )
}

fn one(field: &str, op: &str, values: Value) -> Selectors {
    advanced(json!([{"FieldSelectors": [{"Field": field, op: values}]}]))
}

#[test]
fn six_operators_on_every_string_field() {
    let r = full();
    let cases = [
        ("eventSource", "ec2.amazonaws.com"),
        ("eventName", "DescribeInstances"),
        ("eventType", "AwsApiCall"),
        ("userIdentity.arn", "arn:aws:iam::123456789012:user/alice"),
        ("sessionCredentialFromConsole", "true"),
        ("errorCode", "Client.UnauthorizedOperation"),
        ("vpcEndpointId", "vpce-0abc"),
        ("resources.ARN", "arn:aws:s3:::logs/a/b.txt"),
    ];
    for (field, value) in cases {
        let head = &value[..3];
        let tail = &value[value.len() - 3..];
        let cases = [
            ("Equals", json!(["nope", value]), true),
            ("Equals", json!([head]), false),
            ("StartsWith", json!(["zzz", head]), true),
            ("StartsWith", json!([tail]), value.starts_with(tail)),
            ("EndsWith", json!([tail]), true),
            ("EndsWith", json!(["zzz"]), false),
            ("NotEquals", json!([value]), field == "resources.ARN"),
            ("NotEquals", json!(["nope"]), true),
            ("NotStartsWith", json!([head]), false),
            ("NotStartsWith", json!(["zzz"]), true),
            ("NotEndsWith", json!([tail, "q"]), field == "resources.ARN"),
            ("NotEndsWith", json!(["zzz"]), true),
        ];
        for (op, values, want) in cases {
            // resources.ARN: the bucket entry satisfies the Not* cases on its own.
            assert_eq!(
                m(&one(field, op, values.clone()), &r),
                want,
                "{field} {op} {values}"
            );
        }
        // Absent field: positive operators fail, negative ones hold.
        let absent = match field {
            "eventSource" | "eventName" => continue,
            "userIdentity.arn" => with(r.clone(), json!({"userIdentity": {"type": "Root"}})),
            "resources.ARN" => with(
                r.clone(),
                json!({"resources": [{"type": "AWS::S3::Bucket"}]}),
            ),
            f => with(r.clone(), json!({f: null})),
        };
        assert!(
            !m(&one(field, "Equals", json!([value])), &absent),
            "{field}"
        );
        assert!(
            !m(&one(field, "StartsWith", json!([head])), &absent),
            "{field}"
        );
        assert!(
            !m(&one(field, "EndsWith", json!([tail])), &absent),
            "{field}"
        );
        assert!(
            m(&one(field, "NotEquals", json!([value])), &absent),
            "{field}"
        );
        assert!(
            m(&one(field, "NotStartsWith", json!([head])), &absent),
            "{field}"
        );
        assert!(
            m(&one(field, "NotEndsWith", json!([tail])), &absent),
            "{field}"
        );
    }
}

#[test]
fn equals_only_fields() {
    let r = full();
    let cat = |v: Value| one("eventCategory", "Equals", v);
    assert!(m(&cat(json!(["Management"])), &r));
    assert!(!m(&cat(json!(["Data"])), &r));
    let no_cat = with(r.clone(), json!({"eventCategory": null}));
    assert!(m(&cat(json!(["Data", "Management"])), &no_cat));
    let insight = with(r.clone(), json!({"eventCategory": "Insight"}));
    assert!(!m(&cat(json!(["Management"])), &insight));
    assert!(m(&cat(json!(["Insight"])), &insight));

    let ro = |v: Value| one("readOnly", "Equals", v);
    assert!(m(&ro(json!(["true"])), &r));
    assert!(!m(&ro(json!(["false"])), &r));
    let write = with(r.clone(), json!({"readOnly": false}));
    assert!(m(&ro(json!(["false"])), &write));
    let none = with(r.clone(), json!({"readOnly": null}));
    assert!(!m(&ro(json!(["true"])), &none));
    assert!(!m(&ro(json!(["false"])), &none));
    assert!(!m(&ro(json!(["true", "false"])), &none));

    let ty = |v: Value| one("resources.type", "Equals", v);
    assert!(m(&ty(json!(["AWS::S3::Object"])), &r));
    assert!(!m(&ty(json!(["AWS::S3"])), &r));
    assert!(!m(
        &ty(json!(["AWS::S3::Bucket"])),
        &with(r.clone(), json!({"resources": null}))
    ));
}

#[test]
fn resource_conditions_hold_for_one_resource() {
    let r = full();
    let sel = |arn_op: &str, arn: &str| {
        advanced(json!([{"FieldSelectors": [
            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            {"Field": "resources.ARN", arn_op: [arn]}]}]))
    };
    assert!(m(&sel("StartsWith", "arn:aws:s3:::logs/a/"), &r));
    // The bucket entry's ARN does not start with logs/a/, but it is not an object: no match
    // from it; the object entry does.
    assert!(!m(&sel("NotStartsWith", "arn:aws:s3:::logs/a/"), &r));
    assert!(m(&sel("NotStartsWith", "arn:aws:s3:::logs/b/"), &r));
    // Type of one entry, ARN of the other: no match.
    assert!(!m(&sel("Equals", "arn:aws:s3:::logs"), &r));
    // No resources at all: a Not* resource condition fails too.
    let bare = with(r.clone(), json!({"resources": null}));
    assert!(!m(&one("resources.ARN", "NotEquals", json!(["x"])), &bare));
}

#[test]
fn conditions_and_selectors_combine() {
    let r = full();
    let and = advanced(json!([{"FieldSelectors": [
        {"Field": "eventName", "StartsWith": ["Describe"], "NotEquals": ["DescribeInstances"]}]}]));
    assert!(!m(&and, &r), "operators of one field selector AND together");
    let and2 = advanced(json!([{"FieldSelectors": [
        {"Field": "eventSource", "Equals": ["ec2.amazonaws.com"]},
        {"Field": "errorCode", "Equals": ["Nope"]}]}]));
    assert!(!m(&and2, &r), "field selectors AND together");
    let or = advanced(json!([
        {"FieldSelectors": [{"Field": "errorCode", "Equals": ["Nope"]}]},
        {"FieldSelectors": [{"Field": "eventType", "Equals": ["AwsApiCall"]}]}]));
    assert!(m(&or, &r), "selectors OR");
    // Without eventCategory a selector matches data events too.
    let any = one("eventSource", "Equals", json!(["ec2.amazonaws.com"]));
    assert!(m(&any, &with(r.clone(), json!({"eventCategory": "Data"}))));
    // An escaped record value compares on its decoded text.
    let text = r
        .to_string()
        .replace("DescribeInstances", "Describe\\u0049nstances");
    let escaped = validate(text.as_bytes(), &limits()).expect("valid");
    assert!(
        Compiled::compile(&one("eventName", "Equals", json!(["DescribeInstances"])))
            .matches(&escaped)
    );
    // Empty lists match nothing.
    let nothing = Selectors::from_put(None, Some(Vec::new())).expect("empty");
    assert!(!Compiled::compile(&nothing).matches(&rec(&r)));
}

// ---------------------------------------------------------------- basic selectors

fn data_event(kind: &str, arn: &str, read_only: bool) -> Value {
    with(
        base(),
        json!({"eventCategory": "Data", "managementEvent": false, "readOnly": read_only,
               "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
               "resources": [{"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::other"},
                             {"type": kind, "ARN": arn}]}),
    )
}

#[test]
fn basic_management_rules() {
    let r = base();
    let write = with(base(), json!({"readOnly": false}));
    let unknown = with(base(), json!({"readOnly": null}));
    let kms = with(base(), json!({"eventSource": "kms.amazonaws.com"}));
    let d = Selectors::Default;
    assert!(m(&d, &r) && m(&d, &write) && m(&d, &unknown) && m(&d, &kms));
    assert!(!m(
        &d,
        &data_event("AWS::S3::Object", "arn:aws:s3:::b/k", true)
    ));
    assert!(!m(&d, &with(base(), json!({"eventCategory": "Insight"}))));
    let ro = basic(json!([{"ReadWriteType": "ReadOnly"}]));
    assert!(m(&ro, &r) && !m(&ro, &write) && !m(&ro, &unknown));
    let wo = basic(json!([{"ReadWriteType": "WriteOnly"}]));
    assert!(!m(&wo, &r) && m(&wo, &write) && !m(&wo, &unknown));
    let excl = basic(json!([{"ExcludeManagementEventSources": ["kms.amazonaws.com"]}]));
    assert!(m(&excl, &r) && !m(&excl, &kms));
    let off = basic(json!([{"IncludeManagementEvents": false}]));
    assert!(!m(&off, &r));
}

#[test]
fn basic_data_resource_rules() {
    let s3 = |values: Value| {
        basic(json!([{"IncludeManagementEvents": false,
                      "DataResources": [{"Type": "AWS::S3::Object", "Values": values}]}]))
    };
    let obj = data_event("AWS::S3::Object", "arn:aws:s3:::logs/2024/a.gz", true);
    assert!(m(&s3(json!(["arn:aws:s3"])), &obj));
    assert!(m(&s3(json!(["arn:aws:s3:::"])), &obj));
    assert!(m(&s3(json!(["arn:aws:s3:::logs/"])), &obj));
    assert!(m(&s3(json!(["arn:aws:s3:::logs/2024/"])), &obj));
    assert!(!m(&s3(json!(["arn:aws:s3:::logs/2025/"])), &obj));
    assert!(!m(&s3(json!(["arn:aws:s3:::log/"])), &obj));
    assert!(!m(&s3(json!(["arn:aws-cn:s3"])), &obj));
    assert!(
        !m(&s3(json!(["arn:aws:s3:::other/"])), &obj),
        "bucket entry is not an object"
    );
    assert!(
        !m(&s3(json!(["arn:aws:s3"])), &base()),
        "management event, management off"
    );
    let rw = basic(json!([{"ReadWriteType": "WriteOnly",
        "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}]}]));
    assert!(!m(&rw, &obj));
    assert!(m(
        &rw,
        &data_event("AWS::S3::Object", "arn:aws:s3:::x/y", false)
    ));

    let f = "arn:aws:lambda:us-east-1:123456789012:function:f";
    let lambda = |v: &str| {
        basic(json!([{"DataResources": [{"Type": "AWS::Lambda::Function", "Values": [v]}]}]))
    };
    assert!(m(
        &lambda("arn:aws:lambda"),
        &data_event("AWS::Lambda::Function", f, false)
    ));
    assert!(m(
        &lambda(f),
        &data_event("AWS::Lambda::Function", f, false)
    ));
    assert!(!m(
        &lambda(f),
        &data_event("AWS::Lambda::Function", &format!("{f}2"), false)
    ));
    assert!(!m(
        &lambda(f),
        &data_event("AWS::Lambda::Function", &format!("{f}:PROD"), false)
    ));
    assert!(!m(
        &lambda(f),
        &data_event("AWS::DynamoDB::Table", f, false)
    ));

    let t = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders";
    let ddb = |v: &str| {
        basic(json!([{"DataResources": [{"Type": "AWS::DynamoDB::Table", "Values": [v]}]}]))
    };
    assert!(m(
        &ddb("arn:aws:dynamodb"),
        &data_event("AWS::DynamoDB::Table", t, true)
    ));
    assert!(m(&ddb(t), &data_event("AWS::DynamoDB::Table", t, true)));
    assert!(!m(
        &ddb(t),
        &data_event("AWS::DynamoDB::Table", &format!("{t}2"), true)
    ));
}

// ---------------------------------------------------------------- corpus

/// An independent evaluator: the rules of `compile.rs`'s docs, over `serde_json::Value`.
mod reference {
    use serde_json::Value;

    fn string<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
        match field {
            "userIdentity.arn" => v.get("userIdentity")?.get("arn")?.as_str(),
            _ => v.get(field)?.as_str(),
        }
    }

    fn category(v: &Value) -> &str {
        v.get("eventCategory")
            .and_then(Value::as_str)
            .unwrap_or("Management")
    }

    fn op_holds(op: &str, values: &[Value], value: Option<&str>) -> bool {
        let vals: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
        let hit = |v: &str| match op.trim_start_matches("Not") {
            "Equals" => vals.contains(&v),
            "StartsWith" => vals.iter().any(|x| v.starts_with(x)),
            "EndsWith" => vals.iter().any(|x| v.ends_with(x)),
            other => panic!("operator {other}"),
        };
        let any = value.is_some_and(hit);
        if op.starts_with("Not") { !any } else { any }
    }

    fn field_holds(fs: &Value, value: Option<&str>) -> bool {
        fs.as_object()
            .expect("object")
            .iter()
            .filter(|(k, _)| *k != "Field")
            .all(|(op, values)| op_holds(op, values.as_array().expect("list"), value))
    }

    pub fn advanced(selectors: &Value, r: &Value) -> bool {
        selectors.as_array().expect("list").iter().any(|s| {
            let fields = s["FieldSelectors"].as_array().expect("list");
            let (res, rec): (Vec<&Value>, Vec<&Value>) = fields.iter().partition(|f| {
                f["Field"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("resources."))
            });
            let rec_ok = rec.iter().all(|f| {
                let name = f["Field"].as_str().expect("field");
                match name {
                    "eventCategory" => field_holds(f, Some(category(r))),
                    "readOnly" => {
                        let ro = r
                            .get("readOnly")
                            .and_then(Value::as_bool)
                            .map(|b| b.to_string());
                        field_holds(f, ro.as_deref())
                    }
                    _ => field_holds(f, string(r, name)),
                }
            });
            let res_ok = res.is_empty()
                || r.get("resources")
                    .and_then(Value::as_array)
                    .is_some_and(|list| {
                        list.iter().any(|entry| {
                            res.iter().all(|f| {
                                let key = if f["Field"] == "resources.ARN" {
                                    "ARN"
                                } else {
                                    "type"
                                };
                                field_holds(f, entry.get(key).and_then(Value::as_str))
                            })
                        })
                    });
            rec_ok && res_ok
        })
    }

    pub fn basic(selectors: &Value, r: &Value) -> bool {
        selectors.as_array().expect("list").iter().any(|s| {
            let ro = r.get("readOnly").and_then(Value::as_bool);
            let fits = match s["ReadWriteType"].as_str().unwrap_or("All") {
                "ReadOnly" => ro == Some(true),
                "WriteOnly" => ro == Some(false),
                _ => true,
            };
            fits && match category(r) {
                "Management" => {
                    s["IncludeManagementEvents"].as_bool().unwrap_or(true)
                        && !s["ExcludeManagementEventSources"]
                            .as_array()
                            .is_some_and(|x| {
                                x.iter().any(|e| e.as_str() == r["eventSource"].as_str())
                            })
                }
                "Data" => s["DataResources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|d| {
                        let ty = d["Type"].as_str().expect("type");
                        r["resources"].as_array().into_iter().flatten().any(|res| {
                            let arn = res["ARN"].as_str().unwrap_or("\0");
                            res["type"].as_str() == Some(ty)
                                && d["Values"].as_array().expect("values").iter().any(|v| {
                                    let v = v.as_str().expect("value");
                                    let all_or_s3 =
                                        v.matches(':').count() == 2 || ty == "AWS::S3::Object";
                                    if all_or_s3 {
                                        arn.starts_with(v)
                                    } else {
                                        arn == v
                                    }
                                })
                        })
                    }),
                _ => false,
            }
        })
    }
}

fn corpus() -> Vec<(Value, Record)> {
    let text = crate::test_corpus::read("records.jsonl");
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Ok(record) = validate(line.trim().as_bytes(), &limits()) else {
            continue;
        };
        let value: Value = serde_json::from_slice(&record.bytes).expect("accepted = JSON");
        // Every third S3 record becomes a data event on an object (real data events are not in
        // the corpus): buckets b0..b3, keys under logs/ or data/.
        if value["eventSource"] == "s3.amazonaws.com" && i % 3 == 0 {
            let arn = format!("arn:aws:s3:::b{}/{}/k{i}", i % 4, ["logs", "data"][i % 2]);
            let mut v = value.clone();
            v["eventCategory"] = "Data".into();
            v["managementEvent"] = false.into();
            v["resources"] = serde_json::json!([{"type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::b{}", i % 4)},
                                                 {"type": "AWS::S3::Object", "ARN": arn}]);
            let record = rec(&v);
            out.push((v, record));
        }
        out.push((value, record));
    }
    assert!(out.len() > 3000, "corpus too small: {}", out.len());
    out
}

#[test]
fn corpus_records_land_as_an_independent_evaluation_says() {
    let corpus = corpus();
    let advanced_sets = [
        json!([{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                                   {"Field": "readOnly", "Equals": ["false"]},
                                   {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com", "sts.amazonaws.com"]}]}]),
        json!([{"FieldSelectors": [{"Field": "eventName", "StartsWith": ["Describe", "List"]},
                                   {"Field": "errorCode", "Equals": ["Client.UnauthorizedOperation", "AccessDenied"]}]},
               {"FieldSelectors": [{"Field": "userIdentity.arn", "EndsWith": [":root"]}]}]),
        json!([{"FieldSelectors": [{"Field": "resources.type", "Equals": ["AWS::KMS::Key"]},
                                   {"Field": "resources.ARN", "NotStartsWith": ["arn:aws:kms:us-east-1:"]}]},
               {"FieldSelectors": [{"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                                   {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::b1/", "arn:aws:s3:::b2/logs/"]}]}]),
        json!([{"FieldSelectors": [{"Field": "sessionCredentialFromConsole", "Equals": ["true"]},
                                   {"Field": "eventType", "NotEquals": ["AwsServiceEvent"]},
                                   {"Field": "eventName", "NotEndsWith": ["Instances", "Status"]}]},
               {"FieldSelectors": [{"Field": "vpcEndpointId", "StartsWith": ["vpce-"]},
                                   {"Field": "errorCode", "NotStartsWith": ["Client."]}]},
               {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data", "Insight"]}]}]),
        json!([{"FieldSelectors": [{"Field": "errorCode", "NotEquals": ["ThrottlingException"]},
                                   {"Field": "eventSource", "EndsWith": ["iam.amazonaws.com", "ssm.amazonaws.com"]},
                                   {"Field": "readOnly", "Equals": ["true"]}]}]),
    ];
    for set in &advanced_sets {
        let compiled = Compiled::compile(&advanced(set.clone()));
        let mut hits = 0;
        for (v, r) in &corpus {
            let want = reference::advanced(set, v);
            assert_eq!(compiled.matches(r), want, "{set}\n{v}");
            hits += want as usize;
        }
        assert!(
            hits > 0 && hits < corpus.len(),
            "{set}: {hits} hits, not a useful case"
        );
    }
    let basic_sets = [
        json!([{"ReadWriteType": "All", "IncludeManagementEvents": true, "DataResources": [],
                "ExcludeManagementEventSources": []}]),
        json!([{"ReadWriteType": "ReadOnly", "ExcludeManagementEventSources": ["kms.amazonaws.com"]}]),
        json!([{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": false,
                "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::b0/", "arn:aws:s3:::b3/data/"]}]},
               {"ReadWriteType": "WriteOnly", "ExcludeManagementEventSources": ["ec2.amazonaws.com"]}]),
        json!([{"IncludeManagementEvents": false,
                "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}]}]),
    ];
    for set in &basic_sets {
        let compiled = Compiled::compile(&basic(set.clone()));
        let mut hits = 0;
        for (v, r) in &corpus {
            let want = reference::basic(set, v);
            assert_eq!(compiled.matches(r), want, "{set}\n{v}");
            hits += want as usize;
        }
        assert!(
            hits > 0 && hits < corpus.len(),
            "{set}: {hits} hits, not a useful case"
        );
    }
    // The default set lands exactly the management events.
    let d = Compiled::default();
    for (v, r) in &corpus {
        let management = v.get("eventCategory").is_none_or(|c| c == "Management");
        assert_eq!(d.matches(r), management, "{v}");
    }
}
