"""Kafka client drivers for tests/kafka_clients.rs: each subcommand talks to the
eventlog Kafka listener with a real client library and prints one JSON document.

Run by the Rust test with the virtualenv that .ci/run prepares; failures raise, so the
exit status is non-zero and the traceback lands in the test output.
"""

import json
import sys
import time

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def confluent_roundtrip(bootstrap, topic, group):
    """Produces with each codec and idempotence on, consumes everything back with an
    assigned (groupless) consumer, then commits the end positions for `group`."""
    from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING

    per_codec = 40
    sent = {}
    for codec in CODECS:
        producer = Producer({
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": codec,
            "linger.ms": 5,
        })
        errors = []

        def report(err, _msg):
            if err is not None:
                errors.append(str(err))

        for i in range(per_codec):
            key = f"{codec}-{i}"
            value = f"value {i} compressed with {codec} " + "x" * (i % 7) * 10
            headers = [("codec", codec.encode()), ("index", str(i).encode())]
            producer.produce(topic, key=key, value=value, headers=headers,
                             partition=i % 2, on_delivery=report)
            sent[key] = (value, {"codec": codec, "index": str(i)})
        remaining = producer.flush(30)
        assert remaining == 0, f"{remaining} records of {codec} not delivered"
        assert not errors, f"{codec}: {errors}"

    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in (0, 1)])
    received = {}
    positions = {}
    deadline = time.time() + 30
    while len(received) < len(sent) and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        assert msg.error() is None, str(msg.error())
        headers = {k: v.decode() for k, v in (msg.headers() or [])}
        received[msg.key().decode()] = (msg.value().decode(), headers)
        positions[msg.partition()] = msg.offset() + 1
    assert received == sent, f"received {len(received)} of {len(sent)} records intact"
    offsets = [TopicPartition(topic, p, o) for p, o in sorted(positions.items())]
    committed = consumer.commit(offsets=offsets, asynchronous=False)
    for tp in committed:
        assert tp.error is None, str(tp.error)
    read_back = consumer.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=10)
    consumer.close()
    print(json.dumps({
        "consumed": len(received),
        "committed": {str(tp.partition): tp.offset for tp in read_back},
    }))


def kafka_python_roundtrip(bootstrap, topic):
    """Produces with kafka-python and reads the records back from the beginning."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    count = 20
    for i in range(count):
        producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode(),
                      headers=[("n", str(i).encode())], partition=0)
    producer.flush(30)
    producer.close()

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    records = []
    deadline = time.time() + 30
    while len(records) < count and time.time() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    end = consumer.end_offsets([partition])[partition]
    consumer.close()
    print(json.dumps({
        "records": [[r.offset, r.key.decode(), r.value.decode(),
                     [[k, v.decode()] for k, v in r.headers]] for r in records],
        "end_offset": end,
    }))


def produce_binary(bootstrap, topic):
    """Produces the records given as JSON on stdin (hex bytes, null for none) to
    partition 0, in order, and prints their offsets."""
    from confluent_kafka import Producer

    records = json.load(sys.stdin)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                         "compression.type": "zstd"})
    offsets = []

    def report(err, msg):
        assert err is None, str(err)
        offsets.append(msg.offset())

    for r in records:
        producer.produce(
            topic, partition=0,
            key=None if r["key"] is None else bytes.fromhex(r["key"]),
            value=None if r["value"] is None else bytes.fromhex(r["value"]),
            headers=[(k, bytes.fromhex(v)) for k, v in r["headers"]],
            timestamp=r["timestamp"], on_delivery=report)
    assert producer.flush(30) == 0
    print(json.dumps({"offsets": offsets}))


def consume_binary(bootstrap, topic, count):
    """Reads `count` records of partition 0 from the beginning and prints them as hex."""
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    records = []
    deadline = time.time() + 30
    while len(records) < count and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        assert msg.error() is None, str(msg.error())
        hexed = lambda b: None if b is None else b.hex()
        records.append({
            "offset": msg.offset(),
            "timestamp": msg.timestamp()[1],
            "key": hexed(msg.key()),
            "value": hexed(msg.value()),
            "headers": [[k, v.hex()] for k, v in (msg.headers() or [])],
        })
    consumer.close()
    print(json.dumps({"records": records}))


def main():
    command, *args = sys.argv[1:]
    if command == "confluent-roundtrip":
        confluent_roundtrip(*args)
    elif command == "kafka-python-roundtrip":
        kafka_python_roundtrip(*args)
    elif command == "produce-binary":
        produce_binary(*args)
    elif command == "consume-binary":
        consume_binary(args[0], args[1], int(args[2]))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
