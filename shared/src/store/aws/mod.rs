//! AWS adapters: DynamoDB (one table, two GSIs, TTL), S3 and SQS.
