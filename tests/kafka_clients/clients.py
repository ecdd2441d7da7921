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


# Consumer groups: three consumers of one library share a six-partition topic, one
# leaves, the other two take over from its commits. Each consumer runs in a thread,
# commits after every batch it processed, and logs every record it processed with
# whether that batch's commit went through, so the test can tell a redelivery of an
# uncommitted record (allowed) from one of a committed record (a bug).

GROUP_SETTINGS = {"session_ms": 6000, "heartbeat_ms": 500}


class GroupRun:
    """What the consumer threads share: processed records and control flags."""

    def __init__(self):
        import threading
        self.lock = threading.Lock()
        self.processed = []      # (consumer, partition, offset, committed)
        self.assignments = {}    # consumer -> sorted partitions
        self.committing = {}     # consumer -> bool
        self.stop = {}           # consumer -> bool
        self.errors = []

    def record(self, name, batch, committed):
        with self.lock:
            self.processed.extend((name, p, o, committed) for p, o in batch)


class ConfluentDriver:
    """One confluent-kafka (librdkafka) group consumer."""

    def __init__(self, bootstrap, topic, group, assignor="range,roundrobin"):
        from confluent_kafka import Consumer
        self.consumer = Consumer({
            "partition.assignment.strategy": assignor,
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": GROUP_SETTINGS["session_ms"],
            "heartbeat.interval.ms": GROUP_SETTINGS["heartbeat_ms"],
        })
        self.consumer.subscribe([topic])

    def poll(self):
        msg = self.consumer.poll(0.2)
        if msg is None:
            return []
        if msg.error() is not None:
            raise RuntimeError(str(msg.error()))
        return [(msg.partition(), msg.offset())]

    def commit(self):
        from confluent_kafka import KafkaException
        try:
            self.consumer.commit(asynchronous=False)
            return True
        except KafkaException:
            return False

    def assignment(self):
        return sorted(tp.partition for tp in self.consumer.assignment())

    def close(self):
        self.consumer.close()


class KafkaPythonDriver:
    """One kafka-python group consumer."""

    def __init__(self, bootstrap, topic, group):
        from kafka import KafkaConsumer
        self.consumer = KafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=group,
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=GROUP_SETTINGS["session_ms"],
            heartbeat_interval_ms=GROUP_SETTINGS["heartbeat_ms"])

    def poll(self):
        batch = []
        for tp, records in self.consumer.poll(timeout_ms=200).items():
            batch.extend((tp.partition, r.offset) for r in records)
        return batch

    def commit(self):
        from kafka.errors import KafkaError
        try:
            self.consumer.commit()
            return True
        except KafkaError:
            return False

    def assignment(self):
        return sorted(tp.partition for tp in self.consumer.assignment())

    def close(self):
        self.consumer.close()


def run_consumer(driver, name, run):
    """Polls until told to stop; commits after each batch unless told not to."""
    try:
        while not run.stop[name]:
            batch = driver.poll()
            with run.lock:
                run.assignments[name] = driver.assignment()
                committing = run.committing[name]
            if not batch:
                continue
            committed = committing and driver.commit()
            run.record(name, batch, committed)
        driver.close()
    except Exception as err:  # reported in the output, and fails the run below
        run.errors.append(f"{name}: {err!r}")


def wait_for(what, check, seconds=30):
    deadline = time.time() + seconds
    while not check():
        if time.time() > deadline:
            raise SystemExit(f"gave up waiting until {what}")
        time.sleep(0.05)


def produce_round(bootstrap, topic, per_partition):
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for p in range(6):
        for i in range(per_partition):
            producer.produce(topic, value=f"{p}-{i}".encode(), partition=p)
    assert producer.flush(30) == 0


def group_takeover(library, bootstrap, topic, group):
    """Three consumers share six partitions and consume a first round; the third
    processes part of a second round without committing and leaves; the other two
    take over and consume the rest."""
    import threading
    driver = {
        "confluent": ConfluentDriver,
        # librdkafka's incremental rebalancing: only moved partitions are given up.
        "confluent-cooperative": lambda *a: ConfluentDriver(*a, assignor="cooperative-sticky"),
        "kafka-python": KafkaPythonDriver,
    }[library]
    run = GroupRun()
    names = ["c1", "c2", "c3"]
    threads = {}
    for name in names:
        run.committing[name] = True
        run.stop[name] = False
        consumer = driver(bootstrap, topic, group)
        threads[name] = threading.Thread(target=run_consumer, args=(consumer, name, run))
        threads[name].start()

    def shares(members, each):
        with run.lock:
            got = [run.assignments.get(n, []) for n in members]
        return (all(len(a) == each for a in got)
                and sorted(p for a in got for p in a) == list(range(6)))

    def consumed(count):
        with run.lock:
            return len({(p, o) for _, p, o, _ in run.processed}) >= count

    try:
        wait_for("three consumers hold two partitions each", lambda: shares(names, 2))
        with run.lock:
            first_shares = {n: list(run.assignments[n]) for n in names}
        per_partition = 20
        produce_round(bootstrap, topic, per_partition)
        wait_for("the first round is consumed", lambda: consumed(6 * per_partition))
        with run.lock:
            first_round = list(run.processed)
            run.committing["c3"] = False
        produce_round(bootstrap, topic, per_partition)
        # c3 processes some of the second round without committing, then leaves.
        def c3_read_more():
            with run.lock:
                return sum(1 for n, *_ in run.processed if n == "c3") > len(
                    [r for r in first_round if r[0] == "c3"])
        wait_for("c3 processes uncommitted records", c3_read_more)
        run.stop["c3"] = True
        threads["c3"].join(30)
        wait_for("two consumers hold three partitions each",
                 lambda: shares(["c1", "c2"], 3))
        with run.lock:
            second_shares = {n: list(run.assignments[n]) for n in ["c1", "c2"]}
        wait_for("every record is consumed", lambda: consumed(12 * per_partition))
    finally:
        for name in names:
            run.stop[name] = True
        for thread in threads.values():
            thread.join(30)
    assert not run.errors, run.errors
    print(json.dumps({
        "deleted": delete_group(library, bootstrap, group),
        "first_shares": first_shares,
        "second_shares": second_shares,
        "first_round": first_round,
        "processed": run.processed,
    }))


def delete_group(library, bootstrap, group):
    """Deletes the (now empty) group with the library's admin client: "OK" or why not."""
    if library.startswith("confluent"):
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": bootstrap})
        try:
            admin.delete_consumer_groups([group])[group].result(timeout=10)
            return "OK"
        except KafkaException as err:
            return str(err)
    from kafka.admin import KafkaAdminClient
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return admin.delete_groups([group])[group]
    finally:
        admin.close()


def group_mixed(bootstrap, topic, group, eventlog, server):
    """One confluent-kafka consumer joins a group a gRPC member already reads; once it
    holds three partitions it produces a round to all six, consumes and commits its
    three, and prints `eventlog group describe` as it stands then."""
    import subprocess
    consumer = ConfluentDriver(bootstrap, topic, group)
    try:
        wait_for("the kafka consumer holds three partitions",
                 lambda: consumer.poll() == [] and len(consumer.assignment()) == 3)
        mine = consumer.assignment()
        per_partition = 10
        produce_round(bootstrap, topic, per_partition)
        processed = []
        def all_mine():
            batch = consumer.poll()
            if batch:
                processed.extend(batch)
                assert consumer.commit()
            return len(processed) >= 3 * per_partition
        wait_for("the kafka consumer's partitions are consumed", all_mine)
        described = subprocess.run(
            [eventlog, "group", "describe", group, "--format", "json"],
            env={"EVENTLOG_SERVER": server}, capture_output=True, text=True, check=True)
        admin_view = describe_with_admin(bootstrap, group)
    finally:
        consumer.close()
    print(json.dumps({
        "assigned": mine,
        "processed": processed,
        "described": json.loads(described.stdout),
        "admin": admin_view,
    }))


def describe_with_admin(bootstrap, group):
    """The group as confluent-kafka's admin client lists and describes it."""
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": bootstrap})
    listed = admin.list_consumer_groups().result(timeout=10)
    description = admin.describe_consumer_groups([group])[group].result(timeout=10)
    return {
        "listed": sorted(g.group_id for g in listed.valid),
        "state": description.state.name,
        "members": sorted(
            [m.client_id, sorted(tp.partition for tp in m.assignment.topic_partitions)]
            for m in description.members),
    }


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
    elif command == "group-takeover":
        group_takeover(*args)
    elif command == "group-mixed":
        group_mixed(*args)
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
