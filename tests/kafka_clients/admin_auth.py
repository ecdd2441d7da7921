"""Kafka client drivers for tests/kafka_auth_clients.rs: SASL/PLAIN with the server's
tokens and topic administration through each library's admin client. Each
subcommand prints one JSON document; an unexpected failure raises, so the exit
status is non-zero and the traceback lands in the test output.
"""

import json
import sys
import time


def sasl_config(token):
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "any-user",
        "sasl.password": token,
    }


def confluent_produce(bootstrap, topic, token, count):
    """Produces `count` records with `token`; returns the delivery and client errors."""
    from confluent_kafka import Producer

    errors = []
    config = {
        "bootstrap.servers": bootstrap,
        "message.timeout.ms": 4000,
        "error_cb": lambda err: errors.append(err.name()),
    }
    config.update(sasl_config(token))
    producer = Producer(config)

    def report(err, _msg):
        if err is not None:
            errors.append(err.name())

    for i in range(count):
        producer.produce(topic, key=f"k{i}", value=f"v{i}", partition=0, on_delivery=report)
    producer.flush(20)
    return errors


def sasl_confluent(bootstrap, topic, writer, reader, wrong):
    """Right token writes and reads; a wrong token and a read-only token cannot."""
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING

    result = {"writer_errors": confluent_produce(bootstrap, topic, writer, 10)}
    result["wrong_token_errors"] = sorted(set(confluent_produce(bootstrap, topic, wrong, 1)))
    result["reader_produce_errors"] = sorted(set(confluent_produce(bootstrap, topic, reader, 1)))
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": "sasl-readers",
        "enable.auto.commit": False,
    }
    config.update(sasl_config(reader))
    consumer = Consumer(config)
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    values = []
    deadline = time.time() + 30
    while len(values) < 10 and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        values.append(msg.value().decode())
    consumer.close()
    result["read"] = values
    print(json.dumps(result))


def sasl_ssl_confluent(bootstrap, topic, token, ca):
    """SASL_SSL: the token over TLS, the server's certificate checked against `ca`."""
    from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING

    tls = {"security.protocol": "SASL_SSL", "ssl.ca.location": ca,
           "sasl.mechanism": "PLAIN", "sasl.username": "any-user", "sasl.password": token}
    errors = []
    producer = Producer(dict(tls, **{"bootstrap.servers": bootstrap,
                                     "message.timeout.ms": 4000,
                                     "error_cb": lambda err: errors.append(err.name())}))
    for i in range(5):
        producer.produce(topic, value=f"tls{i}", partition=0,
                         on_delivery=lambda err, _m: err and errors.append(err.name()))
    producer.flush(20)
    consumer = Consumer(dict(tls, **{"bootstrap.servers": bootstrap,
                                     "group.id": "tls-readers", "enable.auto.commit": False}))
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    values = []
    deadline = time.time() + 30
    while len(values) < 5 and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            values.append(msg.value().decode())
    consumer.close()
    print(json.dumps({"errors": errors, "read": values}))


def sasl_kafka_python(bootstrap, topic, writer, wrong):
    """kafka-python: the right token produces; a wrong one fails to connect."""
    from kafka import KafkaProducer

    def producer(token):
        return KafkaProducer(
            bootstrap_servers=bootstrap,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            sasl_plain_username="any-user",
            sasl_plain_password=token,
            request_timeout_ms=5000,
            max_block_ms=3000,
        )

    sent = producer(writer)
    offsets = [sent.send(topic, value=f"py{i}".encode(), partition=0).get(10).offset
               for i in range(3)]
    sent.close()
    try:
        wrong_producer = producer(wrong)
        wrong_producer.send(topic, value=b"never", partition=0).get(10)
        wrong_error = None
    except Exception as err:  # the library's error type differs between versions
        wrong_error = type(err).__name__
    print(json.dumps({"offsets": offsets, "wrong_token_error": wrong_error}))


def admin_confluent(bootstrap, topic):
    """confluent-kafka's AdminClient: grow a topic, describe and alter its configs."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry,
                                       ConfigResource, NewPartitions, ResourceType)

    admin = AdminClient({"bootstrap.servers": bootstrap})

    def error_of(future):
        try:
            future.result()
            return None
        except KafkaException as err:
            return err.args[0].name()

    result = {
        "validate_only": error_of(admin.create_partitions(
            [NewPartitions(topic, 3)], validate_only=True)[topic]),
        "partitions_after_validate": len(admin.list_topics(topic).topics[topic].partitions),
        "grow": error_of(admin.create_partitions([NewPartitions(topic, 3)])[topic]),
        "shrink": error_of(admin.create_partitions([NewPartitions(topic, 2)])[topic]),
        "missing": error_of(admin.create_partitions(
            [NewPartitions(topic + "-missing", 2)])[topic + "-missing"]),
    }
    deadline = time.time() + 10
    while time.time() < deadline:
        result["partitions"] = len(admin.list_topics(topic).topics[topic].partitions)
        if result["partitions"] == 3:
            break
        time.sleep(0.2)

    resource = ConfigResource(ResourceType.TOPIC, topic)

    def described():
        configs = admin.describe_configs([resource])[resource].result()
        return {name: entry.value for name, entry in configs.items()}

    result["before"] = described()
    change = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET),
    ])
    result["alter"] = error_of(admin.incremental_alter_configs([change])[change])
    unknown = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("no.such.config", "1", incremental_operation=AlterConfigOpType.SET),
    ])
    result["unknown"] = error_of(admin.incremental_alter_configs([unknown])[unknown])
    result["after"] = described()
    broker = ConfigResource(ResourceType.BROKER, "0")
    configs = admin.describe_configs([broker])[broker].result()
    result["broker"] = {name: entry.value for name, entry in configs.items()}
    print(json.dumps(result))


def admin_kafka_python(bootstrap, topic):
    """kafka-python's KafkaAdminClient: grow a topic, describe and alter its configs."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    admin.create_partitions({topic: 4})
    try:
        admin.create_partitions({topic: 2})
        shrink = None
    except Exception as err:  # the library's error class for INVALID_PARTITIONS
        shrink = type(err).__name__
    resource = ConfigResource(ConfigResourceType.TOPIC, topic)

    def described():
        found = admin.describe_configs([resource], config_filter="all")
        configs = found["topic"][topic]
        return {name: data["value"] for name, data in configs.items()}

    before = described()
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                        configs={"retention.ms": "7200000"})])
    after = described()
    admin.close()
    print(json.dumps({"shrink": shrink, "before": before, "after": after}))


def main():
    command, *args = sys.argv[1:]
    {
        "sasl_confluent": sasl_confluent,
        "sasl_kafka_python": sasl_kafka_python,
        "sasl_ssl_confluent": sasl_ssl_confluent,
        "admin_confluent": admin_confluent,
        "admin_kafka_python": admin_kafka_python,
    }[command](*args)


if __name__ == "__main__":
    main()
