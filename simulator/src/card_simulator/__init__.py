"""The simulated bank around card-collections: it speaks only the platform's contracts
(Kafka topics and HTTP APIs), never reads a service's database."""
