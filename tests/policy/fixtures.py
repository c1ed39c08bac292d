"""A compliant prod stack as plain resources, shaped the way Pulumi's mocks record them (camelCase
inputs, numbers as floats, JSON strings for policies and container definitions), and helpers that
mutate exactly one property of it (the "happy path + one mutation" pattern of Pulumi's policy repos)."""

from __future__ import annotations

import copy
import json

from keel_policy.model import Resource

ACCOUNT = "123456789012"
REGION = "eu-west-1"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1111-2222"
CERT_ARN = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/abcd"
LB_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/keel/1"
TG_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/keel-web/1"
CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/keel-cluster"
EXEC_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/keel-exec"
TASK_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/keel-task"


def secret_arn(name: str) -> str:
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:keel/prod/{name}-AbCdEf"


def td_arn(process: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/keel-{process}:1"


def res(type_: str, name: str, id_: str | None = None, arn: str | None = None, /, **props) -> Resource:
    return Resource(type=type_, name=name, props=props, urn=f"urn:pulumi:prod::keel::{type_}::{name}",
                    id=id_ or f"{name}-id", arn=arn)


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def ingress(name, sg, port, description="app traffic", **source):
    return res("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", name, f"sgr-{name}",
               securityGroupId=sg, ipProtocol="tcp", fromPort=float(port), toPort=float(port),
               description=description, **source)


def egress(name, sg, port, description="outbound", **target):
    return res("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", name, f"sgr-{name}",
               securityGroupId=sg, ipProtocol="tcp", fromPort=float(port), toPort=float(port),
               description=description, **target)


def network() -> list[Resource]:
    subnets = [
        res("aws:ec2/subnet:Subnet", f"{tier}-{az}", f"subnet-{tier}-{az}", vpcId="vpc-1",
            cidrBlock=f"10.0.{i}.0/24", availabilityZone=f"{REGION}{az}")
        for i, (tier, az) in enumerate([("public", "a"), ("public", "b"), ("private", "a"), ("private", "b")])
    ]
    return [
        res("aws:ec2/vpc:Vpc", "vpc", "vpc-1", cidrBlock="10.0.0.0/16", enableDnsHostnames=True),
        *subnets,
        res("aws:ec2/internetGateway:InternetGateway", "igw", "igw-1", vpcId="vpc-1"),
        res("aws:ec2/routeTable:RouteTable", "public-rt", "rtb-public", vpcId="vpc-1",
            routes=[{"cidrBlock": "0.0.0.0/0", "gatewayId": "igw-1"}]),
        res("aws:ec2/routeTable:RouteTable", "private-rt", "rtb-private", vpcId="vpc-1",
            routes=[{"cidrBlock": "0.0.0.0/0", "natGatewayId": "nat-1"}]),
        *[res("aws:ec2/routeTableAssociation:RouteTableAssociation", f"rta-{tier}-{az}", f"rtbassoc-{tier}-{az}",
              subnetId=f"subnet-{tier}-{az}", routeTableId=f"rtb-{tier}")
          for tier in ("public", "private") for az in "ab"],
        res("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "default-sg", "sg-default", vpcId="vpc-1",
            ingress=[], egress=[]),
        res("aws:ec2/flowLog:FlowLog", "flow-log", "fl-1", vpcId="vpc-1", trafficType="ALL",
            logDestinationType="cloud-watch-logs"),
        *[res("aws:ec2/vpcEndpoint:VpcEndpoint", f"endpoint-{s}", f"vpce-{s}", vpcId="vpc-1",
              serviceName=f"com.amazonaws.{REGION}.{s}") for s in ("ecr.api", "ecr.dkr", "s3")],
        res("aws:ec2/securityGroup:SecurityGroup", "alb-sg", "sg-alb", vpcId="vpc-1", description="load balancer"),
        res("aws:ec2/securityGroup:SecurityGroup", "task-sg", "sg-task", vpcId="vpc-1", description="app tasks"),
        res("aws:ec2/securityGroup:SecurityGroup", "db-sg", "sg-db", vpcId="vpc-1", description="postgres"),
        res("aws:ec2/securityGroup:SecurityGroup", "cache-sg", "sg-cache", vpcId="vpc-1", description="redis"),
        ingress("alb-https", "sg-alb", 443, "https from the internet", cidrIpv4="0.0.0.0/0"),
        ingress("alb-http", "sg-alb", 80, "redirect to https", cidrIpv4="0.0.0.0/0"),
        egress("alb-to-tasks", "sg-alb", 8000, "to the app", referencedSecurityGroupId="sg-task"),
        ingress("task-from-alb", "sg-task", 8000, "from the load balancer", referencedSecurityGroupId="sg-alb"),
        egress("task-https", "sg-task", 443, "AWS APIs", cidrIpv4="0.0.0.0/0"),
        egress("task-db", "sg-task", 5433, "postgres", referencedSecurityGroupId="sg-db"),
        egress("task-cache", "sg-task", 6379, "redis", referencedSecurityGroupId="sg-cache"),
        ingress("db-from-tasks", "sg-db", 5433, "postgres from tasks", referencedSecurityGroupId="sg-task"),
        ingress("cache-from-tasks", "sg-cache", 6379, "redis from tasks", referencedSecurityGroupId="sg-task"),
    ]


def load_balancer() -> list[Resource]:
    return [
        res("aws:lb/loadBalancer:LoadBalancer", "alb", "keel-alb", LB_ARN, loadBalancerType="application",
            internal=False, securityGroups=["sg-alb"], subnets=["subnet-public-a", "subnet-public-b"],
            dropInvalidHeaderFields=True, desyncMitigationMode="defensive", enableDeletionProtection=True,
            accessLogs={"enabled": True, "bucket": "keel-logs", "prefix": "alb"}),
        res("aws:wafv2/webAclAssociation:WebAclAssociation", "waf", resourceArn=LB_ARN,
            webAclArn=f"arn:aws:wafv2:{REGION}:{ACCOUNT}:regional/webacl/keel/1"),
        res("aws:lb/targetGroup:TargetGroup", "web-tg", "keel-web-tg", TG_ARN, protocol="HTTP", port=8000.0,
            targetType="ip", vpcId="vpc-1", deregistrationDelay=30.0,
            healthCheck={"path": "/healthz", "matcher": "200", "interval": 10.0, "healthyThreshold": 2.0}),
        res("aws:lb/listener:Listener", "https", "keel-https", f"{LB_ARN}/https", loadBalancerArn=LB_ARN,
            protocol="HTTPS", port=443.0, certificateArn=CERT_ARN, sslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
            defaultActions=[{"type": "forward", "targetGroupArn": TG_ARN}]),
        res("aws:lb/listener:Listener", "http", "keel-http", f"{LB_ARN}/http", loadBalancerArn=LB_ARN,
            protocol="HTTP", port=80.0,
            defaultActions=[{"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443",
                                                              "statusCode": "HTTP_301"}}]),
    ]


def database() -> list[Resource]:
    return [
        res("aws:rds/subnetGroup:SubnetGroup", "db-subnets", "keel-db-subnets",
            subnetIds=["subnet-private-a", "subnet-private-b"]),
        res("aws:rds/parameterGroup:ParameterGroup", "db-params", "keel-db-params", family="postgres16",
            parameters=[{"name": "rds.force_ssl", "value": "1", "applyMethod": "pending-reboot"}]),
        res("aws:rds/instance:Instance", "db", "keel-db", f"arn:aws:rds:{REGION}:{ACCOUNT}:db:keel-db",
            engine="postgres", engineVersion="16", instanceClass="db.t4g.medium", allocatedStorage=20.0,
            storageEncrypted=True, kmsKeyId=KEY_ARN, publiclyAccessible=False, dbSubnetGroupName="keel-db-subnets",
            vpcSecurityGroupIds=["sg-db"], multiAz=True, backupRetentionPeriod=7.0, deletionProtection=True,
            skipFinalSnapshot=False, finalSnapshotIdentifier="keel-db-final",
            enabledCloudwatchLogsExports=["postgresql", "upgrade"], parameterGroupName="keel-db-params",
            autoMinorVersionUpgrade=True, monitoringInterval=60.0,
            monitoringRoleArn=f"arn:aws:iam::{ACCOUNT}:role/keel-rds-monitoring", performanceInsightsEnabled=True,
            performanceInsightsKmsKeyId=KEY_ARN, copyTagsToSnapshot=True, username="keel_admin",
            manageMasterUserPassword=True, caCertIdentifier="rds-ca-rsa2048-g1",
            iamDatabaseAuthenticationEnabled=True, port=5433.0),
    ]


def cache() -> list[Resource]:
    return [
        res("aws:elasticache/subnetGroup:SubnetGroup", "cache-subnets", "keel-cache-subnets",
            subnetIds=["subnet-private-a", "subnet-private-b"]),
        res("aws:elasticache/parameterGroup:ParameterGroup", "cache-params", "keel-cache-params", family="redis7",
            parameters=[{"name": "maxmemory-policy", "value": "noeviction"}]),
        res("aws:elasticache/replicationGroup:ReplicationGroup", "cache", "keel-cache", description="broker",
            engine="redis", nodeType="cache.t4g.small", atRestEncryptionEnabled=True, transitEncryptionEnabled=True,
            authToken="a" * 32, automaticFailoverEnabled=True, multiAzEnabled=True, numCacheClusters=2.0,
            snapshotRetentionLimit=1.0, autoMinorVersionUpgrade="true", subnetGroupName="keel-cache-subnets",
            parameterGroupName="keel-cache-params", securityGroupIds=["sg-cache"], kmsKeyId=KEY_ARN, port=6379.0),
    ]


def bucket(name: str, *, kms: bool, logs_to: str | None, extra_statements: tuple = ()) -> list[Resource]:
    algorithm = {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN} if kms else {"sseAlgorithm": "AES256"}
    tls_only = {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    found = [
        res("aws:s3/bucket:Bucket", name, name, f"arn:aws:s3:::{name}", bucket=name),
        res("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"{name}-pab", bucket=name,
            blockPublicAcls=True, blockPublicPolicy=True, ignorePublicAcls=True, restrictPublicBuckets=True),
        res("aws:s3/bucketOwnershipControls:BucketOwnershipControls", f"{name}-ownership", bucket=name,
            rule={"objectOwnership": "BucketOwnerEnforced"}),
        res("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            f"{name}-sse", bucket=name, rules=[{"applyServerSideEncryptionByDefault": algorithm,
                                               "bucketKeyEnabled": kms}]),
        res("aws:s3/bucketVersioning:BucketVersioning", f"{name}-versioning", bucket=name,
            versioningConfiguration={"status": "Enabled"}),
        res("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", f"{name}-lifecycle", bucket=name,
            rules=[{"id": "hygiene", "status": "Enabled", "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7.0},
                    "noncurrentVersionExpiration": {"noncurrentDays": 30.0}}]),
        res("aws:s3/bucketPolicy:BucketPolicy", f"{name}-policy", bucket=name,
            policy=doc(tls_only, *extra_statements)),
    ]
    if logs_to:
        found.append(res("aws:s3/bucketLogging:BucketLogging", f"{name}-logging", bucket=name,
                         targetBucket=logs_to, targetPrefix=f"{name}/"))
    return found


def storage() -> list[Resource]:
    elb_delivery = {"Sid": "ElbLogs", "Effect": "Allow",
                    "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
                    "Action": "s3:PutObject", "Resource": "arn:aws:s3:::keel-logs/alb/*"}
    return [
        *bucket("keel-media", kms=True, logs_to="keel-logs"),
        *bucket("keel-logs", kms=False, logs_to=None, extra_statements=(elb_delivery,)),
        res("aws:ecr/repository:Repository", "repo", "keel-app", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/keel-app",
            name="keel-app", imageTagMutability="IMMUTABLE", imageScanningConfiguration={"scanOnPush": True},
            encryptionConfigurations=[{"encryptionType": "KMS", "kmsKey": KEY_ARN}]),
        res("aws:ecr/lifecyclePolicy:LifecyclePolicy", "repo-lifecycle", repository="keel-app",
            policy=json.dumps({"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType":
                                                                           "imageCountMoreThan", "countNumber": 30},
                                          "action": {"type": "expire"}}]})),
        res("aws:ecr/repositoryPolicy:RepositoryPolicy", "repo-policy", repository="keel-app",
            policy=doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/keel-ci"},
                        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]})),
    ]


def trust(service: str) -> str:
    return doc({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}})


def identity() -> list[Resource]:
    secrets = [secret_arn(n) for n in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY")]
    return [
        res("aws:kms/key:Key", "key", "1111-2222", KEY_ARN, description="keel", enableKeyRotation=True,
            deletionWindowInDays=30.0, policy=doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                                  "Action": "kms:*", "Resource": "*"})),
        res("aws:iam/role:Role", "exec-role", "keel-exec", EXEC_ROLE_ARN, name="keel-exec",
            assumeRolePolicy=trust("ecs-tasks.amazonaws.com")),
        res("aws:iam/role:Role", "task-role", "keel-task", TASK_ROLE_ARN, name="keel-task",
            assumeRolePolicy=trust("ecs-tasks.amazonaws.com")),
        res("aws:iam/role:Role", "rds-monitoring", "keel-rds-monitoring",
            f"arn:aws:iam::{ACCOUNT}:role/keel-rds-monitoring", name="keel-rds-monitoring",
            assumeRolePolicy=trust("monitoring.rds.amazonaws.com")),
        res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "exec-managed", role="keel-exec",
            policyArn="arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"),
        res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "rds-monitoring-managed", role="keel-rds-monitoring",
            policyArn="arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"),
        res("aws:iam/rolePolicy:RolePolicy", "exec-secrets", role="keel-exec", policy=doc(
            {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": secrets},
            {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [KEY_ARN]})),
        res("aws:iam/rolePolicy:RolePolicy", "task-media", role="keel-task", policy=doc(
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
             "Resource": ["arn:aws:s3:::keel-media/*"]},
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::keel-media"]},
            {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": KEY_ARN},
            {"Effect": "Allow", "Action": ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                                           "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"],
             "Resource": "*"})),
        *[res("aws:secretsmanager/secret:Secret", f"secret-{n.lower()}", secret_arn(n), secret_arn(n),
              name=f"keel/prod/{n}", description=f"{n} for the app", kmsKeyId=KEY_ARN, recoveryWindowInDays=7.0)
          for n in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY")],
        res("aws:secretsmanager/secretRotation:SecretRotation", "redis-rotation", secretId=secret_arn("REDIS_URL"),
            rotationLambdaArn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:rotate-redis",
            rotationRules={"automaticallyAfterDays": 30.0}),
        res("aws:ssm/parameter:Parameter", "api-token", "/keel/prod/api-token", name="/keel/prod/api-token",
            type="SecureString", keyId=KEY_ARN, value="s3cr3t-value"),
    ]


def container(process: str, **extra) -> dict:
    definition = {
        "name": process, "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/keel-app@sha256:{'0' * 64}",
        "essential": True, "user": "1000:1000", "readonlyRootFilesystem": True,
        "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}],
        "stopTimeout": {"web": 45, "worker": 120}.get(process, 30),
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": f"/keel/prod/{process}", "awslogs-region": REGION, "awslogs-stream-prefix": "keel"}},
        "environment": [{"name": "DJANGO_ALLOWED_HOSTS", "value": "app.example.com"},
                        {"name": "AWS_STORAGE_BUCKET_NAME", "value": "keel-media"}],
        "secrets": [{"name": "DATABASE_URL", "valueFrom": secret_arn("DATABASE_URL")},
                    {"name": "DJANGO_SECRET_KEY", "valueFrom": secret_arn("DJANGO_SECRET_KEY")}],
    }
    if process == "web":
        definition["portMappings"] = [{"containerPort": 8000, "protocol": "tcp"}]
        definition["command"] = ["gunicorn", "--config", "gunicorn.conf.py", "config.wsgi"]
    definition.update(extra)
    return definition


def service(process: str, **props) -> Resource:
    base = dict(
        name=f"keel-{process}", cluster=CLUSTER_ARN, taskDefinition=td_arn(process), launchType="FARGATE",
        desiredCount=1.0, deploymentMinimumHealthyPercent=100.0, deploymentMaximumPercent=200.0,
        deploymentCircuitBreaker={"enable": True, "rollback": True}, enableExecuteCommand=True,
        networkConfiguration={"subnets": ["subnet-private-a", "subnet-private-b"], "securityGroups": ["sg-task"],
                              "assignPublicIp": False},
    )
    base.update(props)
    return res("aws:ecs/service:Service", f"{process}-service", f"keel-{process}",
               f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/keel-cluster/keel-{process}", **base)


def compute() -> list[Resource]:
    processes = ("release", "web", "worker", "beat")
    return [
        res("aws:ecs/cluster:Cluster", "cluster", "keel-cluster", CLUSTER_ARN, name="keel-cluster",
            settings=[{"name": "containerInsights", "value": "enabled"}],
            configuration={"executeCommandConfiguration": {"kmsKeyId": KEY_ARN, "logging": "OVERRIDE",
                                                           "logConfiguration": {"cloudWatchLogGroupName":
                                                                                "/keel/prod/exec"}}}),
        *[res("aws:cloudwatch/logGroup:LogGroup", f"logs-{p}", f"/keel/prod/{p}",
              f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/keel/prod/{p}", name=f"/keel/prod/{p}",
              retentionInDays=365.0, kmsKeyId=KEY_ARN) for p in (*processes, "exec")],
        *[res("aws:ecs/taskDefinition:TaskDefinition", f"{p}-task", td_arn(p), td_arn(p), family=f"keel-{p}",
              networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="512", memory="1024",
              executionRoleArn=EXEC_ROLE_ARN, taskRoleArn=TASK_ROLE_ARN, volumes=[{"name": "tmp"}],
              containerDefinitions=json.dumps([container(p)])) for p in processes],
        service("web", desiredCount=2.0, healthCheckGracePeriodSeconds=60.0,
                loadBalancers=[{"targetGroupArn": TG_ARN, "containerName": "web", "containerPort": 8000.0}]),
        service("worker"),
        service("beat", deploymentMinimumHealthyPercent=0.0, deploymentMaximumPercent=100.0),
        res("aws:appautoscaling/target:Target", "web-scaling", resourceId="service/keel-cluster/keel-web",
            scalableDimension="ecs:service:DesiredCount", serviceNamespace="ecs", minCapacity=2.0, maxCapacity=6.0),
        res("aws:appautoscaling/target:Target", "worker-scaling", resourceId="service/keel-cluster/keel-worker",
            scalableDimension="ecs:service:DesiredCount", serviceNamespace="ecs", minCapacity=1.0, maxCapacity=4.0),
    ]


TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:keel-prod-alarms"


def operations() -> list[Resource]:
    """The alarm topic, a paging alarm, a composite over a quiet child, the queue-metrics grant."""
    return [
        res("aws:sns/topic:Topic", "alarm-topic", TOPIC_ARN, TOPIC_ARN, name="keel-prod-alarms", kmsMasterKeyId=KEY_ARN),
        res("aws:cloudwatch/metricAlarm:MetricAlarm", "alarm-5xx", "keel-prod-target-5xx", name="keel-prod-target-5xx",
            alarmActions=[TOPIC_ARN], okActions=[TOPIC_ARN], threshold=5.0, comparisonOperator="GreaterThanThreshold"),
        res("aws:cloudwatch/metricAlarm:MetricAlarm", "alarm-cpu", "keel-prod-web-cpu", name="keel-prod-web-cpu",
            alarmActions=[], threshold=85.0),
        res("aws:cloudwatch/compositeAlarm:CompositeAlarm", "alarm-cpu-at-max", "keel-prod-web-cpu-at-max",
            alarmName="keel-prod-web-cpu-at-max", alarmActions=[TOPIC_ARN],
            alarmRule='ALARM("keel-prod-web-cpu") AND ALARM("keel-prod-web-at-max")'),
        res("aws:iam/rolePolicy:RolePolicy", "queue-metrics", role="keel-task", policy=doc(
            {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
             "Condition": {"StringEquals": {"cloudwatch:namespace": "keel/prod"}}})),
    ]


def compliant_stack() -> list[Resource]:
    return network() + load_balancer() + database() + cache() + storage() + identity() + compute() + operations()


# --------------------------------------------------------------------------- one-property mutations


def _replace(resources: list[Resource], name: str, props: dict) -> list[Resource]:
    found = [r for r in resources if r.name == name]
    assert found, f"fixture has no resource {name}"
    return [Resource(r.type, r.name, props, r.urn, r.id, r.arn) if r.name == name else r for r in resources]


def _props(resources: list[Resource], name: str) -> dict:
    return copy.deepcopy(dict(next(r for r in resources if r.name == name).props))


def set_prop(name: str, path: str, value):
    """A mutation setting ``path`` (dot separated, list indexes allowed) of resource ``name``."""
    def mutate(resources):
        props = _props(resources, name)
        *parents, last = path.split(".")
        target = props
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
        return _replace(resources, name, props)
    return mutate


def drop_prop(name: str, path: str):
    """A mutation deleting ``path`` of resource ``name``."""
    def mutate(resources):
        props = _props(resources, name)
        *parents, last = path.split(".")
        target = props
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        del target[last]
        return _replace(resources, name, props)
    return mutate


def remove(name: str):
    """A mutation deleting resource ``name`` from the stack."""
    def mutate(resources):
        assert any(r.name == name for r in resources), f"fixture has no resource {name}"
        return [r for r in resources if r.name != name]
    return mutate


def add(resource: Resource):
    def mutate(resources):
        return [*resources, resource]
    return mutate


def set_container(task: str, key: str, value):
    """A mutation setting one key of the container in task definition ``task``."""
    def mutate(resources):
        props = _props(resources, task)
        definitions = json.loads(props["containerDefinitions"])
        if value is None:
            definitions[0].pop(key, None)
        else:
            definitions[0][key] = value
        props["containerDefinitions"] = json.dumps(definitions)
        return _replace(resources, task, props)
    return mutate


def set_policy(name: str, *statements: dict, key: str = "policy"):
    """A mutation replacing the policy document of resource ``name``."""
    return set_prop(name, key, doc(*statements))
