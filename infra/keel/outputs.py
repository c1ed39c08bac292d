"""The stack outputs: the names the Pulumi program exports and the keel CLI reads.

Defined once so `pulumi stack output --json` and `keel` cannot drift apart. Every value
is plain (no secret), and together they are everything a one-off task needs.
"""

from __future__ import annotations

# Process types, in the order they are released and started. Container names equal these.
PROCESSES = ("release", "web", "worker", "beat")
SERVICES = ("web", "worker", "beat")  # the long-running ones; release is a one-off task

URL = "url"  # https://domain, or http://<load balancer DNS> on a stack without a domain
REGION = "region"  # AWS region of every resource
CLUSTER_NAME = "clusterName"
CLUSTER_ARN = "clusterArn"
SERVICE_NAMES = "serviceNames"  # {"web": ..., "worker": ..., "beat": ...}
TASK_DEFINITION_ARNS = "taskDefinitionArns"  # {"release": ..., "web": ..., "worker": ..., "beat": ...}
CONTAINER_NAMES = "containerNames"  # {"release": "release", ...}: the container in each task definition
PRIVATE_SUBNET_IDS = "privateSubnetIds"  # the subnets tasks run in: public ones when TASKS_PUBLIC_IP
TASKS_PUBLIC_IP = "tasksPublicIp"  # true with keel:natGateways none: tasks get public IPs (no NAT)
TASK_SECURITY_GROUP_ID = "taskSecurityGroupId"
LOG_GROUP_NAMES = "logGroupNames"  # {"release": ..., "web": ..., ...}
LOG_STREAM_PREFIX = "logStreamPrefix"  # awslogs-stream-prefix: streams are PREFIX/CONTAINER/TASK_ID
BUCKET_NAME = "bucketName"
REPOSITORY_URL = "repositoryUrl"
IMAGE_REF = "imageRef"  # repository@sha256:... the digest every task definition runs
IMAGE_REVISION = "imageRevision"  # the git commit the image was built from (its revision label), or None
EXEC_ENABLED = "execEnabled"  # whether ECS Exec (keel shell) is allowed on this stack
STACK = "stack"
DASHBOARD_URL = "dashboardUrl"  # the stack's CloudWatch dashboard (when keel:dashboard is on)
ALARM_TOPIC_ARN = "alarmTopicArn"  # where the stack's alarms publish (when keel:alarms is on)

REQUIRED = (
    REGION, CLUSTER_NAME, TASK_DEFINITION_ARNS, CONTAINER_NAMES, PRIVATE_SUBNET_IDS,
    TASK_SECURITY_GROUP_ID, LOG_GROUP_NAMES, LOG_STREAM_PREFIX,
)
