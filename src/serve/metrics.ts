// Prometheus metrics of the server (prom-client, in a registry of its own so that a host app's
// default registry is left alone): requests by model, route and status, latency, time queued,
// time computing, batch sizes and queue depth.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BatchObserver } from './served-model';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class ServerMetrics implements BatchObserver {
  readonly registry = new Registry();
  readonly #requests = new Counter({ name: 'resnet_native_requests_total', help: 'HTTP requests answered, by model, route and status', labelNames: ['model', 'route', 'status'], registers: [this.registry] });
  readonly #latency = new Histogram({ name: 'resnet_native_request_duration_seconds', help: 'Time from request to answer', labelNames: ['model', 'route'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly #queue = new Histogram({ name: 'resnet_native_queue_duration_seconds', help: 'Time a request waited for its batch', labelNames: ['model'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly #compute = new Histogram({ name: 'resnet_native_compute_duration_seconds', help: 'Time of one batched forward pass', labelNames: ['model'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly #batchSize = new Histogram({ name: 'resnet_native_batch_size', help: 'Images in one forward pass', labelNames: ['model'], buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers: [this.registry] });
  readonly #depth = new Gauge({ name: 'resnet_native_queue_depth', help: 'Requests waiting for a batch', labelNames: ['model'], registers: [this.registry] });

  request(model: string, route: string, status: number, seconds: number): void {
    this.#requests.inc({ model, route, status: String(status) });
    this.#latency.observe({ model, route }, seconds);
  }

  batch(model: string, images: number, computeSeconds: number): void {
    this.#batchSize.observe({ model }, images);
    this.#compute.observe({ model }, computeSeconds);
  }

  queued(model: string, seconds: number): void {
    this.#queue.observe({ model }, seconds);
  }

  depth(model: string, requests: number): void {
    this.#depth.set({ model }, requests);
  }
}
