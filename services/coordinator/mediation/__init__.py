"""Mediation of disputes (常态化调解): a dispute a community raised gets a neutral mediator (a
social-work organisation), the parties state their case, the mediator proposes a settlement each
party accepts or rejects, each step has a time limit with reminders, and the outcome — settled,
or escalated to the next joint meeting with its history — is recorded in the county's hash chain."""
