"""Topic provisioning: create dvtrigger's topics on a cluster; running it twice changes nothing."""

from __future__ import annotations

import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.settings import TOPIC_ROLES, Settings

log = logging.getLogger(__name__)


def ensure_topics(settings: Settings, bootstrap: str) -> list[str]:
    """Create every topic in `TOPIC_ROLES` that does not exist yet; return those created."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id=f"{settings.app_id}-admin")
    try:
        existing = set(admin.list_topics())
        wanted = [settings.topic(role) for role in TOPIC_ROLES]
        missing = [name for name in wanted if name not in existing]
        created: list[str] = []
        for name in missing:
            topic = NewTopic(name, settings.topic_partitions, settings.topic_replication)
            try:
                admin.create_topics([topic])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()
