"""Every belief about the real service that could not be checked without an AWS account.

Each constant says what is assumed, why, and what to check the first time the stack runs against
a real account. Nothing else in ``rft`` hard-codes these beliefs: change a value here and the
catalog, the validator, the job plan and the Mantle client follow. Facts that the botocore service
model or the openai SDK states (name patterns, hyperparameter ranges, status enums) live beside the
code that uses them, not here.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

# --- Regions -------------------------------------------------------------------------------------

# UNCONFIRMED: the regions where each base model can be reinforcement-fine-tuned. The reference
# names one region per model (late 2026). Check: the Bedrock console's "Custom models" page per
# region, or `aws bedrock list-foundation-models --by-customization-type REINFORCEMENT_FINE_TUNING`
# (Bedrock plane) and `GET /v1/models` on the Mantle endpoint (Mantle plane) in each candidate region.
MODEL_REGIONS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "amazon.nova-2-lite-v1:0:256k": ("us-east-1",),
        "openai.gpt-oss-20b": ("us-west-2",),
        "qwen.qwen3-32b": ("us-west-2",),
    }
)

# CONFLICTING SOURCES: the id of Qwen3 32B. The Bedrock model catalog and RFT documentation (the
# reference) say `qwen.qwen3-32b`; the AWS sample notebook `models/qwen/qwen_gsm8k_rft.ipynb` sets
# `MODEL_ID = "qwen.qwen3-32b-v1:0"`. Users may type either: the catalog keeps the documented id
# and accepts each spelling below as the same model (rft.catalog.get_model); what is sent to
# Mantle is the catalog id. Check: `GET /v1/models` on the us-west-2 Mantle endpoint; if it lists
# only the `-v1:0` spelling, swap the two (catalog id and alias) here and in MODEL_REGIONS.
MODEL_ID_ALIASES: MappingProxyType[str, str] = MappingProxyType({"qwen.qwen3-32b-v1:0": "qwen.qwen3-32b"})

# --- Judge models (llm_judge) ---------------------------------------------------------------------

# UNCONFIRMED (the Bedrock user guide's model cards, "Supported Regions and models for inference
# profiles" and "Global cross-Region inference", late 2026; the region tables themselves could not
# be read here, so the lists below are what those pages were last known to say): where each judge
# model takes on-demand Converse calls, and how. `in_region`: regions where the foundation model id
# itself is callable. `profiles`: a system-defined inference profile's prefix -> the regions it can
# be called from. A geographic profile (`us`, `eu`, `apac`, `jp`, `au`) routes among the regions of
# its geography, taken to be the same list (IAM grants the foundation model in each of them). The
# `global` profile routes to any commercial region: its list holds only the regions it can be
# called from, and IAM grants the foundation model the way the global cross-Region inference page
# says (in the calling region, and region-less `arn:aws:bedrock:::foundation-model/<id>` with
# `aws:RequestedRegion` "unspecified"), always only through the profile. Check, per region R: `aws
# bedrock list-foundation-models --region R --by-inference-type ON_DEMAND` (in-region ids) and `aws
# bedrock list-inference-profiles --region R --type-equals SYSTEM_DEFINED` (the profiles callable
# from R, each with the foundation-model ARNs it routes to). Change only this table: synth checks
# every environment's judge ids against it and IAM follows it.
_US = ("us-east-1", "us-east-2", "us-west-2")
_US_WEST_1_TOO = (*_US, "us-west-1")
_EU = ("eu-central-1", "eu-north-1", "eu-west-1", "eu-west-3")
_EU_SOUTH_TOO = (*_EU, "eu-south-1", "eu-south-2")
_APAC = ("ap-northeast-1", "ap-northeast-2", "ap-south-1", "ap-southeast-1", "ap-southeast-2")
_JP = ("ap-northeast-1", "ap-northeast-3")
_AU = ("ap-southeast-2", "ap-southeast-4")
_GLOBAL_SOURCES = (
    *_US_WEST_1_TOO,
    "ca-central-1",
    *_EU_SOUTH_TOO,
    "eu-west-2",
    *_APAC,
    "ap-northeast-3",
    "ap-south-2",
    "ap-southeast-4",
    "sa-east-1",
)


def _judge(in_region: tuple[str, ...] = (), **profiles: tuple[str, ...]) -> MappingProxyType[str, Any]:
    return MappingProxyType({"in_region": in_region, "profiles": MappingProxyType(profiles)})


_NOVA_1 = _judge(("us-east-1", "us-gov-west-1"), us=_US, eu=_EU, apac=_APAC)
_CLAUDE_4 = _judge(us=_US_WEST_1_TOO, eu=_EU_SOUTH_TOO, jp=_JP, au=_AU, **{"global": _GLOBAL_SOURCES})
_GPT_OSS = _judge(("us-east-1", "us-west-2"))
JUDGE_MODEL_REGIONS: MappingProxyType[str, MappingProxyType[str, Any]] = MappingProxyType(
    {
        "amazon.nova-micro-v1:0": _NOVA_1,
        "amazon.nova-lite-v1:0": _NOVA_1,
        "amazon.nova-pro-v1:0": _NOVA_1,
        "amazon.nova-premier-v1:0": _judge(us=_US),
        "amazon.nova-2-lite-v1:0": _judge(us=_US, **{"global": _GLOBAL_SOURCES}),
        "anthropic.claude-haiku-4-5-20251001-v1:0": _CLAUDE_4,
        "anthropic.claude-sonnet-4-5-20250929-v1:0": _CLAUDE_4,
        "anthropic.claude-sonnet-4-6": _CLAUDE_4,
        "meta.llama3-3-70b-instruct-v1:0": _judge(us=_US),
        "meta.llama4-maverick-17b-instruct-v1:0": _judge(us=_US_WEST_1_TOO),
        "meta.llama4-scout-17b-instruct-v1:0": _judge(us=_US_WEST_1_TOO),
        "mistral.mistral-large-2407-v1:0": _judge(("us-west-2",)),
        "mistral.pixtral-large-2502-v1:0": _judge(us=_US, eu=_EU),
        "openai.gpt-oss-20b-1:0": _GPT_OSS,
        "openai.gpt-oss-120b-1:0": _GPT_OSS,
    }
)
# The judge an environment gets when its settings name none: the first of these callable there.
DEFAULT_JUDGE_MODELS = ("amazon.nova-lite-v1:0",)

# --- Mantle endpoint ------------------------------------------------------------------------------

# UNCONFIRMED: the Mantle base URL. The reference (AWS walkthrough blog) and the AWS RFT sample
# notebooks (`base_url=f"https://bedrock-mantle.{AWS_REGION}.api.aws/v1"`) give `/v1`; the openai SDK
# 3.51 derives `https://bedrock-mantle.<region>.api.aws/openai/v1` for its Bedrock provider. Check:
# `curl -H "Authorization: Bearer $KEY" https://bedrock-mantle.us-west-2.api.aws/v1/models` and the
# same with `/openai/v1`; keep the one that answers 200.
MANTLE_BASE_URL_TEMPLATE = "https://bedrock-mantle.{region}.api.aws/v1"

# UNCONFIRMED: Mantle accepts a short-term Bedrock API key (aws-bedrock-token-generator, signed for
# service `bedrock`) as a bearer token on fine-tuning and files calls, not only on inference. The
# reference says bearer keys work on Mantle. Check: `files.create` with such a token. If refused, set
# False: `mantle_client` then signs with SigV4 (service `bedrock-mantle`); but openai 3.51 cannot
# SigV4-sign a multipart upload (it streams the body), so the training-file upload would then need
# its own signed request (botocore SigV4Auth over a buffered multipart body) in rft.mantle.upload_file.
MANTLE_ACCEPTS_SHORT_TERM_API_KEYS = True

# UNCONFIRMED: which principal Mantle uses to invoke the Lambda grader. Assumed: the identity that
# calls CreateFineTuningJob (the Mantle Lambda's role), so that role needs `lambda:InvokeFunction` on
# the grader alias. Check: CloudTrail `Invoke` events on the grader during the first Mantle job, or
# a job that fails fast with an access-denied message when the permission is removed. If it is a
# service principal instead, the rewards stack must add a resource policy for it.
MANTLE_GRADER_INVOKER = "caller"

# UNCONFIRMED: Mantle documents only these three hyperparameters. Mapping from the Bedrock names a
# job request uses (the only names users write) to Mantle's. Check: a job created with each one and
# `jobs.retrieve(...).hyperparameters` echoing them back.
MANTLE_HYPERPARAMETER_NAMES: MappingProxyType[str, str] = MappingProxyType(
    {
        "epochCount": "n_epochs",
        "batchSize": "batch_size",
        "learningRate": "learning_rate_multiplier",
    }
)

# UNCONFIRMED: Mantle takes a learning-rate *multiplier* of a base rate it does not publish. Assumed
# base: 1e-4, the rate the reference recommends for Bedrock RFT (LoRA rank 32), so `learningRate=1e-5`
# maps to a multiplier of 0.1. Check: the job's echoed hyperparameters, or AWS documentation of the
# Mantle base learning rate; change this number only.
MANTLE_BASE_LEARNING_RATE = 1e-4

# --- Mantle job request: optional fields --------------------------------------------------------
#
# A Mantle job request sends only what AWS shows working: the sample notebooks for gpt-oss-20b and
# Qwen3 (aws-samples/amazon-bedrock-samples, custom-models/bedrock-reinforcement-fine-tuning/models/)
# call `fine_tuning.jobs.create(model=..., training_file=..., extra_body={"method": ...})` and nothing
# else. Every other OpenAI field is an extra behind one flag here, off until a real job confirms it.

# REFUTED for now: the gpt-oss-20b sample comments `suffix` out with "Suffix field is not supported";
# expect HTTP 400 if it is sent. Check: `jobs.create(..., suffix="probe")` on a tiny dataset; if
# it is accepted and `fine_tuned_model` carries it, set True (run names are then sent as suffix,
# cut to MANTLE_SUFFIX_MAX_CHARS).
MANTLE_JOB_SUFFIX_SUPPORTED = False

# UNCONFIRMED: Mantle's limit on `suffix` (used only when MANTLE_JOB_SUFFIX_SUPPORTED). OpenAI
# documents 64 characters. Check: a job created with a 63-character suffix.
MANTLE_SUFFIX_MAX_CHARS = 64

# UNCONFIRMED: Mantle keeps the `metadata` map given at job creation. No AWS source shows it, nor a
# `metadata` filter on `jobs.list`; nothing depends on it (a retried start finds its job through
# its start record, see rft.mantle_start.start_job). Check: `jobs.create(..., metadata={"k": "v"})` then
# `jobs.retrieve(id).metadata`; if kept, set True and the run's name, environment and request
# token are sent with the job (visible in `jobs.list`).
MANTLE_JOB_METADATA_SUPPORTED = False

# UNCONFIRMED: Mantle takes `validation_file` on an RFT job. No AWS sample sends one. While False, a
# request with `validation_data` for a Mantle model is refused at validation, naming the field.
# Check: upload a small validation file and `jobs.create(..., validation_file=<id>)`; if the job
# is accepted and `jobs.retrieve(id).validation_file` echoes it, set True.
MANTLE_VALIDATION_FILE_SUPPORTED = False

# UNCONFIRMED (the OpenAI API contract, which Mantle's samples follow): `jobs.list` returns the
# newest jobs first, each with its `training_file` id and `created_at` (seconds). Used only to
# recover after a start step that was interrupted between sending the create request and
# recording the job id: the job whose training file is the one this run uploaded is its job (file
# ids are unique per upload). Check: `jobs.list(limit=5)` right after a create shows that job first
# with its training_file. If wrong, such an interrupted start creates the job again (a duplicate
# job, never a lost one); cleanup still cancels the one it recorded.
MANTLE_JOB_LIST_NEWEST_FIRST_WITH_TRAINING_FILE = True

# UNCONFIRMED: the largest training file the Mantle Files API accepts. OpenAI documents 512 MB per
# file. Check: upload a file just over the limit and read the error.
MANTLE_MAX_FILE_BYTES = 512 * 1024 * 1024

# UNCONFIRMED: per-step training metrics arrive as fine-tuning job events whose `data` object has a
# `step` and metric names such as `critic_rewards_mean`; OpenAI marks such events `type="metrics"`.
# The parser accepts any event whose data carries an integer `step`, so either reading works. Check:
# `jobs.list_events` on a running job.
MANTLE_METRICS_EVENT_TYPE = "metrics"

# --- Nova token limits ---------------------------------------------------------------------------

# UNCONFIRMED: the upper bound of the Nova RFT hyperparameters `maxPromptLength` and
# `inferenceMaxTokens`. Neither the API reference (RFTHyperParameters: "Type: Integer", no range)
# nor botocore's service model states one. Assumed: the model's context window, which the catalog id
# `amazon.nova-2-lite-v1:0:256k` names (256k = 262,144 tokens): a prompt or a rollout longer than
# the context cannot exist, so a larger value is a typo that would otherwise reach the service.
# Check: CreateModelCustomizationJob with `maxPromptLength` 262,145 and read the ValidationException
# (or the Nova user guide's RFT hyperparameter table if it gains a range).
NOVA_MAX_CONTEXT_TOKENS = 262_144

# --- Grader invocation -------------------------------------------------------------------------

# UNCONFIRMED: how many samples Bedrock sends the grader per invocation. Assumed at most one group of
# rollouts (trainingSamplePerPrompt ≤ 16). Used only to size the per-line dataset limit so that one
# invocation's payload (each sample repeats its prompt) stays well under Lambda's 6 MB. Check: log
# `len(event)` in the grader during the first job.
GRADER_SAMPLES_PER_INVOCATION = 16

# --- Deleting trained models ---------------------------------------------------------------------

# UNCONFIRMED: Mantle deletes a fine-tuned model with the OpenAI models API (`DELETE /v1/models/{id}`,
# the openai SDK's `models.delete`), answering 404 for a model already gone. The reference documents
# jobs, files and chat completions on Mantle, not model deletion. If Mantle does not support it,
# `rft models delete` fails on that call before the record is removed (run it again once set to
# False: the record then goes, the model stays with Mantle). Check: `client.models.delete(ID)` on a
# fine-tuned model of a finished job, then `client.models.retrieve(ID)`.
MANTLE_DELETES_FINE_TUNED_MODELS = True
# UNCONFIRMED: DeleteCustomModel refuses (ConflictException) a custom model that a deployment still
# serves, and a deployment disappears from GetCustomModelDeployment once deleted (the botocore model
# lists ConflictException and ResourceNotFoundException for both calls, without saying when).
# `rft models delete` deletes the deployment, waits until GetCustomModelDeployment answers
# ResourceNotFoundException, then deletes the model. Check: delete a deployment and poll it.


# --- Training metrics ----------------------------------------------------------------------------

# UNCONFIRMED: the name of the validation reward in a job's per-step metrics. The reference lists the
# training metrics (`critic_rewards_mean`, `actor_entropy`, ...) but no validation metric; these are
# the names verl-style trainers use. The health guard (rft.health) takes the first one a step
# carries and simply skips its validation check when none is present. Check: `jobs.list_events` on a
# job created with validation data (Mantle), or the metrics file a Nova RFT job writes.
VALIDATION_REWARD_METRICS: tuple[str, ...] = (
    "val_rewards_mean",
    "validation_rewards_mean",
    "val_reward_mean",
)

# --- The code grader's sandbox on AWS Lambda -----------------------------------------------------

# REPORTED, NOT MEASURED HERE: what AWS Lambda lets a function do to sandbox the code it runs.
#  * prctl is refused (EPERM) by Lambda's own seccomp filter: PR_SET_NAME (catboost/catboost#1606,
#    ClickHouse/ClickHouse#29378 and #43589, fixed by not failing in ClickHouse PR #53117 / #53118),
#    PR_SET_NO_NEW_PRIVS (magJ/cypress-lambda-example#2), PR_SET_PDEATHSIG (chromedp/chromedp#720).
#    So no PR_SET_DUMPABLE=0, no no_new_privs and no PR_SET_SECCOMP.
#  * seccomp, ptrace and chroot fail with EPERM (rapidlua/luajit.me wiki, "On running untrusted code
#    in AWS Lambda", 2022); the AWS whitepaper "Security Overview of AWS Lambda" (Lambda isolation
#    technologies) confirms a platform seccomp-bpf filter without listing what it refuses; a 2026
#    write-up on sandboxing student code in Lambda reports the platform filter blocks installing
#    another one.
#  * Functions run as a non-root user (sbx_user1051) whatever the image says (simonko.dev, "non-root
#    Lambda image"), with no capabilities: setuid to another user is impossible, as is dropping to
#    one. Every process of the function, the grader included, is that one user.
# Consequence, enforced by lambda_rewards/code_tests (hardening flags "UC---" there): the sandbox
# cannot be established on Lambda, so code_tests scores every sample 0 with
# error_sandbox_unavailable unless CODE_TESTS_ALLOW_UNSANDBOXED (the `rewards.code_tests_allow_
# unsandboxed` setting) accepts the degraded mode the README's threat model describes.
# Check: deploy, invoke code_tests once and read its cold-start log line "code_tests sandbox"
# (grader_undumpable, child_hardening, euid). If it ever says complete=true, Lambda allows the
# sandbox and the unsafe setting is unnecessary.
LAMBDA_ALLOWS_PRCTL = False
LAMBDA_RUNS_FUNCTIONS_AS_ROOT = False
# UNKNOWN: whether a Lambda process may read /proc/<pid>/mem of another process of its user (Yama
# ptrace_scope or the platform filter may forbid it; nothing public says). The degraded mode is
# documented as if it may. Check: the reads-parent-memory attack of tests/unit/rewards, run in a
# function with CODE_TESTS_ALLOW_UNSANDBOXED=1.
LAMBDA_ALLOWS_PROC_MEM_OF_SAME_USER = True

# --- The LLM judge ---------------------------------------------------------------------------------

# UNCONFIRMED: the judge models (`rewards.judge_model_ids`) copy the 32-hex-digit verdict code of
# their system prompt into a reply that is exactly one JSON object, at temperature 0, with no prose
# around it. lambda_rewards/llm_judge/verdict.py counts nothing else as a verdict, so a judge that
# does not comply scores every sample 0 with error_bad_verdict (loud, never a forged reward).
# Reasoning is not a problem: Converse returns a model's thinking as `reasoningContent` blocks
# (botocore's ContentBlock), which the grader does not read. Check: with credentials for the
# account, `JUDGE_MODEL_ID=<id> JUDGE_RUBRIC="..." rft reward test --reward llm_judge --data
# sample.jsonl --gold` must report no error_bad_verdict; on a deployed stack, the grader's error
# metric on the dashboard during the first job.
JUDGE_ECHOES_VERDICT_NONCE = True

# --- Infrastructure --------------------------------------------------------------------------------

# UNCONFIRMED: a log group or an EventBridge rule that CloudFormation names itself (no explicit
# name) is called `<stack name>-<logical id>-<random suffix>`, as CloudFormation's generated physical
# names are. The data key's policy lets CloudWatch Logs use the key only for log groups whose name
# starts with one of the environment's stack names (stacks.data_stack.DataStack.allow_log_groups_of),
# and EventBridge only for the training stack's rules (stacks.constructs.dead_letters); naming them by
# reference instead would make the data stack depend on every other stack. If the names differ,
# creating a log group fails with an access-denied error on the key. Check after the first deploy:
# `aws logs describe-log-groups --log-group-name-prefix <env>-Rewards-` and
# `aws events list-rules --name-prefix <env>-Training-`; if they differ, change this pattern (an
# ARN-like pattern of the name; `{stack}` is the stack's name).
GENERATED_NAMES = "{stack}-*"

# --- Where a Nova (Bedrock-plane) RFT job publishes its training metrics during the run ----------

# UNCONFIRMED: the Bedrock user guide says a Nova RFT job is monitored through its reward and
# training curves, and Bedrock's other customization jobs write step-wise metrics as CSV into the
# job's output S3 location (`step_wise_training_metrics.csv`, usually once the job ends). Whether
# an RFT job writes that file *during* the run, under which folder and with which columns, could not
# be verified without an account. The guard (rft.guard) looks for these file names anywhere under
# the run's output prefix and maps the columns below onto Mantle's metric names; a job without such
# a file is simply not judged (the guard sees no steps and stays healthy). Check: start a Nova RFT
# job and list `s3://<artifacts>/jobs/<run>/output/` while it trains; fix the names here.
BEDROCK_RFT_METRICS_FILES: frozenset[str] = frozenset(
    {"step_wise_training_metrics.csv", "training_metrics.csv", "rft_training_metrics.csv"}
)
BEDROCK_RFT_METRIC_COLUMNS: dict[str, str] = {
    "step_number": "step",
    "global_step": "step",
    "step": "step",
    "mean_reward": "critic_rewards_mean",
    "reward_mean": "critic_rewards_mean",
    "train_reward": "critic_rewards_mean",
    "entropy": "actor_entropy",
    "policy_entropy": "actor_entropy",
    "grad_norm": "actor_grad_norm",
    "gradient_norm": "actor_grad_norm",
    "response_length": "response_length_mean",
    "mean_response_length": "response_length_mean",
    "validation_reward": "val_rewards_mean",
}

# --- Events of the Bedrock plane -----------------------------------------------------------------

# DOCUMENTED, NOT OBSERVED HERE: Bedrock sends "Model Customization Job State Change" (source
# aws.bedrock) to the default bus on a best-effort basis, with detail.jobArn and detail.jobStatus.
# The workflow therefore never relies on the event alone: a slow poll runs when no event comes.
# No EventBridge event is documented for custom model deployments or for Mantle fine-tuning jobs:
# those keep polling. Check: a job in a test account and a rule on that pattern targeting a log group.
BEDROCK_JOB_EVENT_SOURCE = "aws.bedrock"
BEDROCK_JOB_EVENT_DETAIL_TYPE = "Model Customization Job State Change"

# --- What `rft doctor` and `rft train reproduce` read back from a deployment ----------------------

# UNCONFIRMED: GetFunctionConfiguration called with a grader's alias ARN (`...:function:F:live`)
# answers with the version the alias points to: `Version` is that version's number and `CodeSha256`
# that version's package hash (the Lambda API reference says the call takes "a version or alias",
# not what `Version` then holds). rft.recipes.grader_pin pins a run's grader this way, and
# reproduce compares the hashes of two environments with it. Check: `aws lambda get-alias
# --function-name F --name live` (its FunctionVersion V), then `aws lambda get-function-configuration
# --function-name <alias ARN>`: `Version` must be V and `CodeSha256` must equal that of
# `aws lambda get-function-configuration --function-name F --qualifier V`. If `Version` says
# `$LATEST` or the hash differs, set False: pinning must then read the alias's version first.
LAMBDA_ALIAS_CONFIGURATION_IS_ITS_VERSION = True

# UNCONFIRMED: `Ref` of an AWS::Budgets::Budget (CDK's CfnBudget.ref), which the operations stack
# exports as its BudgetName output, is the budget's name as DescribeBudget takes it (the
# CloudFormation reference says Ref gives the name; CDK generates the name when none is set).
# `rft doctor` calls DescribeBudget with that output. Check after a deploy: `aws cloudformation
# describe-stacks --stack-name <env>-Operations --query "Stacks[0].Outputs[?OutputKey=='BudgetName']"`
# and `aws budgets describe-budget --account-id <account> --budget-name <that value>` must answer.
# If it does not, set False and give the budget an explicit name in stacks/constructs/operations.py.
BUDGET_REF_IS_ITS_NAME = True

# --- Promoting a Bedrock-plane model to another account (rft.model_copy) ---------------------------

# UNCONFIRMED: a custom model made by a Nova reinforcement fine-tuning job can be shared through AWS
# RAM and copied with CreateModelCopyJob like other custom models. The Bedrock user guide ("Share a
# model for another account to use", "Copy a customized or shared model") lists shareable and
# copyable models by base model, and no source here says RFT custom models qualify. Mantle
# fine-tuned models have no ARN and no sharing or copy API at all: they are always reproduced
# (`rft train reproduce`). Check: in the source account `aws ram create-resource-share --name probe
# --resource-arns <custom model ARN> --principals <target account>`, then in the target account
# `aws bedrock create-model-copy-job --source-model-arn <ARN> --target-model-name probe` and `aws
# bedrock get-model-copy-job --job-arn <jobArn>` until Completed. If either is refused, set False:
# `rft models promote --from-env` then refuses Nova models too and points at `rft train reproduce`.
BEDROCK_RFT_MODELS_SHAREABLE = True

# DOCUMENTED (Bedrock user guide, "Fulfill prerequisites to share models"), NOT TRIED HERE: sharing a
# model needs both accounts in one AWS Organization with RAM sharing enabled for it; the share then
# needs no invitation to be accepted in the target (shares inside an organization are associated
# at once), so rft creates it with allowExternalPrincipals=false and waits for the target account's
# association to be ASSOCIATED. Which RAM resource type a custom model is (the share is made by ARN,
# so rft never sends it): `aws ram list-resource-types --query "resourceTypes[?serviceName=='bedrock']"`.
# Check: the share's `aws ram get-resource-share-associations --association-type PRINCIPAL
# --resource-share-arns <share>` reaches ASSOCIATED without `aws ram get-resource-share-invitations`
# in the target listing a PENDING invitation. If sharing outside an organization must work, set
# False: the share then allows external principals and rft accepts the invitation with the
# target's credentials (rft.model_copy.accept_invitations) before waiting for the association.
RAM_SHARING_WITHIN_ORGANIZATION = True

# DOCUMENTED (Bedrock user guide, "Fulfill prerequisites to copy models"), NOT TRIED HERE: a model
# encrypted with a customer managed key (every environment's custom models are: the workflow passes
# its data key as customModelKmsKeyId) can be copied by another account only when that key's policy
# lets the target account use it; the copy itself is encrypted with the target environment's data
# key (modelKmsKeyId), which the target's own credentials may already use. The data stack grants it:
# for each environment the source's `promote_to` setting names, the key policy allows that account's
# root kms:Decrypt and kms:DescribeKey, and kms:CreateGrant for an AWS resource
# (kms:GrantIsForAWSResource), all only through Bedrock in the region (kms:ViaService
# bedrock.<region>.amazonaws.com; stacks/data_stack.py). Believed, not confirmed: that these three
# actions suffice and that the copy job's use of the source key passes through Bedrock (so the
# ViaService condition holds). rft says what to set when a copy job fails or is refused. Check: with
# `promote_to` unset a copy job from the target account fails naming KMS; deploy the source with
# it set and the same job completes. If it still fails on KMS, the key's CloudTrail events
# (`aws cloudtrail lookup-events --lookup-attributes AttributeKey=ResourceName,AttributeValue=<key
# ARN>` in the source account) name the action and its `invokedBy`/via-service: add the action, or
# drop the condition that refused it. botocore's model states the copy job's statuses (InProgress,
# Completed, Failed) and that a failed job carries failureMessage: those are facts, not beliefs.
MODEL_COPY_NEEDS_SOURCE_KEY_GRANT = True
