# syntax=docker/dockerfile:1
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/sitrep ./cmd/sitrep \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sitrep /usr/local/bin/sitrep
COPY config.example.yaml /etc/sitrep/config.yaml
COPY --from=build --chown=65532:65532 /out/data /data
# The data file lives on a volume; listen on all interfaces inside the container.
# The example config's demo tokens are refused off loopback: set SITREP_INGEST_TOKEN and SITREP_ADMIN_TOKEN.
ENV SITREP_DATA=/data/sitrep.db SITREP_LISTEN=0.0.0.0:8080
VOLUME ["/data"]
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/sitrep"]
CMD ["serve", "--config", "/etc/sitrep/config.yaml"]
