# The Redis of docker/compose.yaml (state shared by the replicas): Debian's redis-server.
# Build: podman build -t llmgate-redis -f docker/redis.Dockerfile docker   (or docker build)
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*
USER redis
EXPOSE 6379
# Only the replicas reach it (the project network; no port published), and with a password.
# Nothing is saved to disk: limits, cached answers and tokens are all rebuilt by use.
CMD ["sh", "-c", "exec redis-server --bind 0.0.0.0 --port 6379 --save '' --appendonly no --requirepass \"$REDIS_PASSWORD\""]
