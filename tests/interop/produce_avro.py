#!/usr/bin/env python3
"""Produce usage events to Kafka as Confluent-framed Avro, with the Confluent
Python client, so that tests can check that burnrate reads what that client writes.

Reads CloudEvents (structured JSON, one per line) from --events, maps each onto the
io.burnrate.UsageEvent record of schemas/usage_event.avsc, and produces it with
confluent_kafka's AvroSerializer, which registers the schema under the subject
TOPIC-value and frames each value as magic byte 0, a 4-byte schema id and the Avro
datum. Prints one JSON line per delivered record: id, partition and offset.
Exits with status 1 if any record is not delivered.
"""

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", required=True, help="bootstrap.servers, such as 127.0.0.1:9092")
    parser.add_argument("--topic", required=True, help="the topic to produce to")
    parser.add_argument("--registry", required=True, help="schema registry URL, such as http://127.0.0.1:8081")
    parser.add_argument("--events", required=True, type=Path, help="JSONL file of CloudEvents usage events")
    parser.add_argument(
        "--schema",
        type=Path,
        default=REPOSITORY_ROOT / "schemas" / "usage_event.avsc",
        help="the Avro writer schema (default: schemas/usage_event.avsc)",
    )
    parser.add_argument(
        "--key",
        choices=["subject", "id", "none"],
        default="subject",
        help="the CloudEvents attribute used as record key (default: subject, the account)",
    )
    return parser.parse_args()


def parse_time(text):
    """Parse an RFC 3339 time; fastavro writes an aware datetime as timestamp-micros."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset; write it as RFC 3339, such as 2026-05-06T10:00:00Z")
    return parsed


def usage_event_record(event):
    """Map a CloudEvents usage event onto the io.burnrate.UsageEvent record.

    Quantities stay the decimal text of the JSON form, as the schema requires.
    """
    data = event["data"]
    return {
        "specversion": event["specversion"],
        "id": event["id"],
        "source": event["source"],
        "type": event["type"],
        "time": parse_time(event["time"]),
        "subject": event["subject"],
        "data": {
            "meter": data["meter"],
            "quantity": str(data["quantity"]),
            "product": data.get("product"),
            "dimensions": data.get("dimensions", {}),
        },
    }


def read_events(path):
    events = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError as error:
            sys.exit(f"{path}:{number}: invalid JSON: {error}")
    return events


def main():
    arguments = parse_arguments()
    registry = SchemaRegistryClient({"url": arguments.registry})
    serializer = AvroSerializer(registry, arguments.schema.read_text(encoding="utf-8"))
    producer = Producer({"bootstrap.servers": arguments.brokers, "enable.idempotence": True})
    context = SerializationContext(arguments.topic, MessageField.VALUE)

    failures = []

    def report(event_id, error, message):
        if error is not None:
            failures.append(f"event {event_id}: {error}")
            return
        print(json.dumps({"id": event_id, "partition": message.partition(), "offset": message.offset()}), flush=True)

    for event in read_events(arguments.events):
        key = None if arguments.key == "none" else event[arguments.key].encode()
        value = serializer(usage_event_record(event), context)
        producer.produce(
            arguments.topic,
            key=key,
            value=value,
            on_delivery=lambda error, message, event_id=event["id"]: report(event_id, error, message),
        )
        producer.poll(0)

    remaining = producer.flush(30)
    if remaining:
        failures.append(f"{remaining} records not delivered within 30 s")
    for failure in failures:
        print(f"delivery failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
