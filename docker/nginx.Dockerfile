# The load balancer of docker/compose.yaml: Debian's nginx with docker/nginx.conf.
# Build: podman build -t llmgate-nginx -f docker/nginx.Dockerfile docker   (or docker build)
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /etc/nginx/sites-enabled/*
# Baked in rather than bind-mounted: no SELinux relabelling, same file under podman and docker.
COPY nginx.conf /etc/nginx/nginx.conf
EXPOSE 8080
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
