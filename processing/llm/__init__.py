"""Talking to OpenAI-compatible teachers.

client     presets and request bodies, the one client factory
http       the aiohttp transport (why not the SDK: measured, see there)
extract    reasoning/response split for every provider shape, streamed or not
engine     Jobs in, Records out: concurrency, retries, rate limits, endpoints
ratelimit  RPM/TPM token buckets and adaptive concurrency (AIMD on 429)
endpoints  least-loaded balancing over several servers of one model
retry      which failures are retried, recorded, or fatal
rating     ask a model for a number and read it back robustly (complexity scorers, the judge)
"""
