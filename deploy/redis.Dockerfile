# Redis from Debian, as the queue's tests and docs/queue.md use it.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/*
EXPOSE 6379
# BullMQ needs noeviction (an evicted key is a lost job); AOF so a restart keeps the queue.
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--appendonly", "yes", "--maxmemory-policy", "noeviction", "--dir", "/data"]
