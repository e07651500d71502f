"""An object written to S3 as it is produced, in parts, with no file in between.

Written by hand because boto3's upload_fileobj needs the object whole (a file in /tmp, which holds
512 MB by default and a million entries do not fit) or reads a stream on its own threads and
completes whatever it read: the prepare function must be able to abandon an object halfway, when
the request turns out to be refused, without leaving it or its parts behind (AbortMultipartUpload).
"""

from typing import Any

# S3's smallest part but the last is 5 MiB; at most 10,000 parts make an object of up to 80 GB here.
PART_BYTES = 8 * 1024 * 1024


class S3Upload:
    """write() text as it comes; complete() makes the object, abort() leaves none. Holds at most one
    part in memory."""

    def __init__(self, s3: Any, bucket: str, key: str) -> None:
        self.s3, self.bucket, self.key = s3, bucket, key
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.size = 0

    def write(self, text: str) -> None:
        self.buffer += text.encode()
        if len(self.buffer) >= PART_BYTES:
            self._send_part()

    def _send_part(self) -> None:
        if self.upload_id is None:
            self.upload_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=self.key)["UploadId"]
        number = len(self.parts) + 1
        etag = self.s3.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=bytes(self.buffer)
        )["ETag"]
        self.parts.append({"PartNumber": number, "ETag": etag})
        self.size += len(self.buffer)
        self.buffer.clear()

    def complete(self) -> int:
        """Make the object; its size in bytes."""
        if self.upload_id is None:  # it fits in one request
            self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer))
            self.size += len(self.buffer)
        else:
            if self.buffer:
                self._send_part()
            self.s3.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
            )
        self.buffer.clear()
        return self.size

    def abort(self) -> None:
        """Leave no object and no part (S3 bills stored parts until they are aborted)."""
        self.buffer.clear()
        if self.upload_id is not None:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
            self.upload_id = None
