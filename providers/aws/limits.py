"""AWS limits that portsync checks at plan time, each with its source."""

#: Inbound or outbound rules per security group (default quota, adjustable).
#: IPv4 and IPv6 rules are counted separately.
#: https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-security-groups
MAX_RULES_PER_GROUP = 60

#: Maximum length of a security-group rule description.
#: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpRange.html
MAX_DESCRIPTION_LENGTH = 255

#: DescribeSecurityGroups / DescribeSecurityGroupRules page size maximum.
#: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSecurityGroups.html
MAX_RESULTS_PER_PAGE = 1000
MIN_RESULTS_PER_PAGE = 5

#: Values in one filter; above this portsync lists the region's groups instead of filtering.
#: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Using_Filtering.html
MAX_FILTER_VALUES = 200

#: How many rule listings (one per 200 groups) of one read are in flight at once, beside the
#: groups' listing: a read of 2,000 groups makes 1 + 10 listings, and waiting for each answer
#: in turn is most of its time on a real account. Each call still takes a token of the describe
#: bucket below, so the pace stays EC2's.
READ_WORKERS = 4

#: EC2 request throttling, token buckets per account and region: describe calls (bucket, refill
#: per second) and mutating security-group calls (authorize, revoke, modify).
#: https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html
DESCRIBE_BUCKET = (100, 20.0)
MUTATE_BUCKET = (50, 5.0)
