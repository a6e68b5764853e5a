"""The Amazon A2I control plane as code: what `human-review aws-setup / aws-policy / aws-check` do.

- `plan`: the HumanTaskUi and FlowDefinition a pipeline YAML asks for (pure: no AWS call).
  Both resources are immutable in SageMaker, so their names carry a digest of what they hold
  (`moderation-1a2b3c4d`, `content-moderation-5e6f7a8b`): a changed template or flow setting
  gives a new name, and an unchanged one finds what an earlier run created.
- `apply`: describe first, create only what is missing, wait (bounded) until the flow
  definition is Active, through providers-amazon's SageMakerHook.
- `policy`: the least-privilege IAM policies (Airflow's role, the flow definition's execution
  role, whoever runs aws-setup) and the S3 CORS rules the A2I worker UI needs.
- `check`: is an account ready for a pipeline (buckets, CORS, flow definition, template)?
- `dag`: the manually triggered `human_review_aws_setup` DAG (dags/aws_setup.py).

Nothing here is imported by the nightly DAGs; boto3 and the providers load inside the calls.
"""
