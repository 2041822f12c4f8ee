-- A Message-ID must never name two different mails, and receivers (mail systems, MSP
-- ticketing) may drop a repeated one. Outbox row ids can repeat: a restored backup hands out
-- again the ids of mails sent after it was taken. So each mail carries a random token, fixed
-- when it is decided, so that a redelivery keeps its Message-ID.
ALTER TABLE outbox ADD COLUMN message_token TEXT NOT NULL DEFAULT '';
UPDATE outbox SET message_token = lower(hex(randomblob(8)));

-- Recipients the relay has taken the mail for (JSON array). One address the relay refuses
-- (a departed employee on the copy list) must not keep the mail from the others, nor make
-- them receive it again when it is retried for that address.
ALTER TABLE outbox ADD COLUMN delivered_to TEXT NOT NULL DEFAULT '[]';
