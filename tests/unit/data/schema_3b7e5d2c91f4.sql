BEGIN TRANSACTION;
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO "alembic_version" VALUES('3b7e5d2c91f4');
CREATE TABLE buddy_availability (
	user_id VARCHAR(255) NOT NULL, 
	available BOOLEAN NOT NULL, 
	max_pairs INTEGER NOT NULL, 
	paused_until DATE, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_buddy_availability PRIMARY KEY (user_id)
);
CREATE TABLE buddy_blocks (
	id INTEGER NOT NULL, 
	user_id VARCHAR(255) NOT NULL, 
	blocked_id VARCHAR(255) NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_buddy_blocks PRIMARY KEY (id), 
	CONSTRAINT uq_buddy_blocks_user_id UNIQUE (user_id, blocked_id)
);
CREATE TABLE buddy_checkins (
	id INTEGER NOT NULL, 
	pair_id INTEGER NOT NULL, 
	round INTEGER NOT NULL, 
	user_id VARCHAR(255) NOT NULL, 
	answer VARCHAR(16) NOT NULL, 
	answered_at DATETIME NOT NULL, 
	CONSTRAINT pk_buddy_checkins PRIMARY KEY (id), 
	CONSTRAINT uq_buddy_checkins_pair_id UNIQUE (pair_id, round, user_id)
);
CREATE TABLE buddy_offers (
	id INTEGER NOT NULL, 
	request_id INTEGER NOT NULL, 
	candidate_id VARCHAR(255), 
	status VARCHAR(16) NOT NULL, 
	score INTEGER NOT NULL, 
	offered_at DATETIME NOT NULL, 
	answered_at DATETIME, 
	CONSTRAINT pk_buddy_offers PRIMARY KEY (id)
);
CREATE TABLE buddy_pairs (
	id INTEGER NOT NULL, 
	request_id INTEGER, 
	member_a VARCHAR(255), 
	member_b VARCHAR(255), 
	status VARCHAR(16) NOT NULL, 
	room_alias VARCHAR(64) NOT NULL, 
	room_id VARCHAR(255), 
	started_at DATETIME NOT NULL, 
	ended_at DATETIME, 
	CONSTRAINT pk_buddy_pairs PRIMARY KEY (id), 
	CONSTRAINT uq_buddy_pairs_request_id UNIQUE (request_id)
);
CREATE TABLE buddy_requests (
	id INTEGER NOT NULL, 
	requester_id VARCHAR(255), 
	status VARCHAR(16) NOT NULL, 
	criteria JSON NOT NULL, 
	topic TEXT, 
	source_event VARCHAR(255), 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_buddy_requests PRIMARY KEY (id), 
	CONSTRAINT uq_buddy_requests_source_event UNIQUE (source_event)
);
CREATE TABLE casus_contributions (
	event_id VARCHAR(255) NOT NULL, 
	run_id INTEGER NOT NULL, 
	user_id VARCHAR(255) NOT NULL, 
	profession VARCHAR(64) NOT NULL, 
	step INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_casus_contributions PRIMARY KEY (event_id)
);
CREATE TABLE casus_intro_hints (
	marker VARCHAR(64) NOT NULL, 
	sent_at DATETIME NOT NULL, 
	CONSTRAINT pk_casus_intro_hints PRIMARY KEY (marker)
);
CREATE TABLE casus_invitations (
	id INTEGER NOT NULL, 
	run_id INTEGER NOT NULL, 
	user_id VARCHAR(255) NOT NULL, 
	profession VARCHAR(64) NOT NULL, 
	step INTEGER NOT NULL, 
	nudge_id INTEGER, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_casus_invitations PRIMARY KEY (id), 
	CONSTRAINT uq_casus_invitations_run_user UNIQUE (run_id, user_id)
);
CREATE TABLE casus_invite_optouts (
	user_id VARCHAR(255) NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_casus_invite_optouts PRIMARY KEY (user_id)
);
CREATE TABLE casus_runs (
	id INTEGER NOT NULL, 
	theme VARCHAR(64) NOT NULL, 
	slot VARCHAR(128) NOT NULL, 
	case_id VARCHAR(64) NOT NULL, 
	round INTEGER NOT NULL, 
	room_id VARCHAR(255) NOT NULL, 
	root_event_id VARCHAR(255), 
	status VARCHAR(16) NOT NULL, 
	step INTEGER NOT NULL, 
	claimed_at DATETIME NOT NULL, 
	posted_at DATETIME, 
	closed_at DATETIME, 
	CONSTRAINT pk_casus_runs PRIMARY KEY (id), 
	CONSTRAINT uq_casus_runs_theme_slot UNIQUE (theme, slot)
);
CREATE TABLE casus_schedules (
	theme VARCHAR(64) NOT NULL, 
	cron VARCHAR(64) NOT NULL, 
	every_weeks INTEGER NOT NULL, 
	since DATETIME NOT NULL, 
	CONSTRAINT pk_casus_schedules PRIMARY KEY (theme)
);
CREATE TABLE casus_submissions (
	id INTEGER NOT NULL, 
	user_id VARCHAR(255), 
	theme VARCHAR(64) NOT NULL, 
	title VARCHAR(200) NOT NULL, 
	text TEXT NOT NULL, 
	questions JSON NOT NULL, 
	anonymous BOOLEAN NOT NULL, 
	language VARCHAR(8) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	reason TEXT, 
	created_at DATETIME NOT NULL, 
	decided_at DATETIME, 
	CONSTRAINT pk_casus_submissions PRIMARY KEY (id)
);
CREATE TABLE core_conversations (
	user_id VARCHAR(255) NOT NULL, 
	flow VARCHAR(100) NOT NULL, 
	room_id VARCHAR(255) NOT NULL, 
	step INTEGER NOT NULL, 
	answers JSON NOT NULL, 
	context JSON NOT NULL, 
	started_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_core_conversations PRIMARY KEY (user_id)
);
CREATE TABLE core_direct_rooms (
	user_id VARCHAR(255) NOT NULL, 
	room_id VARCHAR(255) NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_core_direct_rooms PRIMARY KEY (user_id), 
	CONSTRAINT uq_core_direct_rooms_room_id UNIQUE (room_id)
);
CREATE TABLE core_jobs (
	job_id VARCHAR(255) NOT NULL, 
	kind VARCHAR(100) NOT NULL, 
	run_at DATETIME NOT NULL, 
	payload JSON NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	finished_at DATETIME, 
	note TEXT, 
	CONSTRAINT pk_core_jobs PRIMARY KEY (job_id)
);
CREATE TABLE core_members (
	user_id VARCHAR(255) NOT NULL, 
	language VARCHAR(8), 
	nudges_opt_out BOOLEAN NOT NULL, 
	first_seen DATETIME NOT NULL, 
	CONSTRAINT pk_core_members PRIMARY KEY (user_id)
);
CREATE TABLE core_nudges (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	user_id VARCHAR(255) NOT NULL, 
	kind VARCHAR(100) NOT NULL, 
	dedupe_key VARCHAR(255) NOT NULL, 
	message_key VARCHAR(200) NOT NULL, 
	params JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	deliver_at DATETIME NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	sent_at DATETIME, 
	expires_at DATETIME, 
	CONSTRAINT uq_core_nudges_dedupe_key UNIQUE (dedupe_key)
);
CREATE TABLE core_outbox (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	txn_id VARCHAR(255) NOT NULL, 
	room_id VARCHAR(255) NOT NULL, 
	plain TEXT NOT NULL, 
	html TEXT, 
	thread_root VARCHAR(255), 
	reply_to VARCHAR(255), 
	mentions JSON NOT NULL, 
	notice BOOLEAN NOT NULL, 
	due_at DATETIME NOT NULL, 
	created_at DATETIME NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	reason TEXT, 
	event_id VARCHAR(255), 
	sent_at DATETIME, 
	CONSTRAINT uq_core_outbox_txn_id UNIQUE (txn_id)
);
CREATE TABLE core_processed_events (
	event_id VARCHAR(255) NOT NULL, 
	room_id VARCHAR(255) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	received_at DATETIME NOT NULL, 
	origin_ts DATETIME NOT NULL, attempts INTEGER DEFAULT '1' NOT NULL, 
	CONSTRAINT pk_core_processed_events PRIMARY KEY (event_id)
);
CREATE TABLE core_recurring_jobs (
	job_id VARCHAR(255) NOT NULL, 
	kind VARCHAR(100) NOT NULL, 
	cron VARCHAR(100) NOT NULL, 
	timezone VARCHAR(64) NOT NULL, 
	payload JSON NOT NULL, 
	last_fire DATETIME, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_core_recurring_jobs PRIMARY KEY (job_id)
);
CREATE TABLE core_seen_reactions (
	event_id VARCHAR(255) NOT NULL, 
	room_id VARCHAR(255) NOT NULL, 
	sender VARCHAR(255) NOT NULL, 
	target_event_id VARCHAR(255) NOT NULL, 
	"key" VARCHAR(64) NOT NULL, 
	seen_at DATETIME NOT NULL, 
	CONSTRAINT pk_core_seen_reactions PRIMARY KEY (event_id)
);
CREATE TABLE core_sent_messages (
	txn_id VARCHAR(255) NOT NULL, 
	room_id VARCHAR(255) NOT NULL, 
	event_id VARCHAR(255) NOT NULL, 
	sent_at DATETIME NOT NULL, 
	CONSTRAINT pk_core_sent_messages PRIMARY KEY (txn_id)
);
CREATE TABLE core_state (
	"key" VARCHAR(100) NOT NULL, 
	value TEXT NOT NULL, 
	CONSTRAINT pk_core_state PRIMARY KEY ("key")
);
CREATE TABLE digest_activity (
	user_id VARCHAR(255) NOT NULL, 
	event_id VARCHAR(255) NOT NULL, 
	at DATETIME NOT NULL, 
	CONSTRAINT pk_digest_activity PRIMARY KEY (user_id, event_id)
);
CREATE TABLE digest_subscriptions (
	user_id VARCHAR(255) NOT NULL, 
	enabled BOOLEAN NOT NULL, 
	rhythm VARCHAR(16) NOT NULL, 
	updated_at DATETIME NOT NULL, 
	last_sent_at DATETIME, 
	CONSTRAINT pk_digest_subscriptions PRIMARY KEY (user_id)
);
CREATE TABLE events_attendance (
	event_id INTEGER NOT NULL, 
	user_id VARCHAR(255) NOT NULL, 
	recorded_at DATETIME NOT NULL, 
	CONSTRAINT pk_events_attendance PRIMARY KEY (event_id, user_id), 
	CONSTRAINT fk_events_attendance_event_id_events_events FOREIGN KEY(event_id) REFERENCES events_events (id) ON DELETE CASCADE
);
CREATE TABLE events_cards (
	card_event_id VARCHAR(255) NOT NULL, 
	event_id INTEGER NOT NULL, 
	CONSTRAINT pk_events_cards PRIMARY KEY (card_event_id), 
	CONSTRAINT fk_events_cards_event_id_events_events FOREIGN KEY(event_id) REFERENCES events_events (id) ON DELETE CASCADE
);
CREATE TABLE events_evaluations (
	id INTEGER NOT NULL, 
	event_id INTEGER NOT NULL, 
	user_id VARCHAR(255) NOT NULL, 
	profession VARCHAR(64), 
	worked TEXT, 
	not_worked TEXT, 
	tips TEXT, 
	submitted_at DATETIME NOT NULL, 
	CONSTRAINT pk_events_evaluations PRIMARY KEY (id), 
	CONSTRAINT fk_events_evaluations_event_id_events_events FOREIGN KEY(event_id) REFERENCES events_events (id) ON DELETE CASCADE, 
	CONSTRAINT uq_events_evaluations_event_user UNIQUE (event_id, user_id)
);
CREATE TABLE events_events (
	id INTEGER NOT NULL, 
	uid VARCHAR(128) NOT NULL, 
	series_id INTEGER, 
	series_part INTEGER, 
	series_size INTEGER, 
	title VARCHAR(200) NOT NULL, 
	starts_at DATETIME NOT NULL, 
	ends_at DATETIME NOT NULL, 
	place VARCHAR(300), 
	link VARCHAR(500), 
	form VARCHAR(16) NOT NULL, 
	theme VARCHAR(64), 
	programme TEXT, 
	accreditation VARCHAR(200), 
	points FLOAT, 
	lunch BOOLEAN, 
	capacity INTEGER, 
	audience JSON NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	organiser VARCHAR(255), 
	sequence INTEGER NOT NULL, 
	signup_counter INTEGER NOT NULL, 
	card_room_id VARCHAR(255), 
	card_event_id VARCHAR(255), 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_events_events PRIMARY KEY (id), 
	CONSTRAINT uq_events_events_uid UNIQUE (uid)
);
CREATE TABLE events_reminder_prefs (
	user_id VARCHAR(255) NOT NULL, 
	reminders BOOLEAN NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_events_reminder_prefs PRIMARY KEY (user_id)
);
CREATE TABLE events_rsvps (
	id INTEGER NOT NULL, 
	event_id INTEGER NOT NULL, 
	user_id VARCHAR(255) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	position INTEGER NOT NULL, 
	via VARCHAR(16) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_events_rsvps PRIMARY KEY (id), 
	CONSTRAINT fk_events_rsvps_event_id_events_events FOREIGN KEY(event_id) REFERENCES events_events (id) ON DELETE CASCADE, 
	CONSTRAINT uq_events_rsvps_event_user UNIQUE (event_id, user_id)
);
CREATE TABLE intro_profiles (
	user_id VARCHAR(255) NOT NULL, 
	profession VARCHAR(64) NOT NULL, 
	experience VARCHAR(32), 
	years INTEGER, 
	region VARCHAR(32), 
	setting VARCHAR(32), 
	work_days JSON NOT NULL, 
	meet_days JSON NOT NULL, 
	goals JSON NOT NULL, 
	themes JSON NOT NULL, 
	about TEXT, 
	weighing TEXT, 
	listed BOOLEAN NOT NULL, 
	spotlight BOOLEAN NOT NULL, 
	consent_at DATETIME NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	card_room_id VARCHAR(255), 
	card_event_id VARCHAR(255), meet_professions JSON DEFAULT '[]' NOT NULL, 
	CONSTRAINT pk_intro_profiles PRIMARY KEY (user_id)
);
CREATE TABLE intro_spotlights (
	id INTEGER NOT NULL, 
	user_id VARCHAR(255) NOT NULL, 
	profession VARCHAR(64) NOT NULL, 
	round INTEGER NOT NULL, 
	shown_at DATETIME NOT NULL, 
	CONSTRAINT pk_intro_spotlights PRIMARY KEY (id)
);
CREATE TABLE intro_welcomes (
	marker VARCHAR(64) NOT NULL, 
	sent_at DATETIME NOT NULL, 
	CONSTRAINT pk_intro_welcomes PRIMARY KEY (marker)
);
CREATE TABLE question_invites (
	id INTEGER NOT NULL, 
	question_id INTEGER NOT NULL, 
	user_id VARCHAR(255) NOT NULL, 
	round INTEGER NOT NULL, 
	invited_at DATETIME NOT NULL, 
	CONSTRAINT pk_question_invites PRIMARY KEY (id)
);
CREATE TABLE question_preferences (
	user_id VARCHAR(255) NOT NULL, 
	accepts BOOLEAN NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_question_preferences PRIMARY KEY (user_id)
);
CREATE TABLE question_questions (
	id INTEGER NOT NULL, 
	asker_id VARCHAR(255), 
	profession VARCHAR(64) NOT NULL, 
	text TEXT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	source_event VARCHAR(255), 
	room_id VARCHAR(255), 
	event_id VARCHAR(255), 
	answers INTEGER NOT NULL, 
	rounds INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	answered_at DATETIME, 
	closed_at DATETIME, 
	CONSTRAINT pk_question_questions PRIMARY KEY (id), 
	CONSTRAINT uq_question_questions_source_event UNIQUE (source_event)
);
CREATE TABLE stats_interactions (
	day DATE NOT NULL, 
	from_profession VARCHAR(64) NOT NULL, 
	to_profession VARCHAR(64) NOT NULL, 
	room_kind VARCHAR(64) NOT NULL, 
	count INTEGER NOT NULL, 
	CONSTRAINT pk_stats_interactions PRIMARY KEY (day, from_profession, to_profession, room_kind)
);
CREATE TABLE stats_recent_events (
	event_id VARCHAR(255) NOT NULL, 
	profession VARCHAR(64) NOT NULL, 
	author_tag VARCHAR(32) NOT NULL, 
	at DATETIME NOT NULL, 
	CONSTRAINT pk_stats_recent_events PRIMARY KEY (event_id)
);
CREATE INDEX ix_core_jobs_status_run_at ON core_jobs (status, run_at);
CREATE INDEX ix_core_nudges_user_id ON core_nudges (user_id);
CREATE INDEX ix_core_processed_events_received_at ON core_processed_events (received_at);
CREATE INDEX ix_core_outbox_status_due_at ON core_outbox (status, due_at, id);
CREATE INDEX ix_intro_profiles_profession ON intro_profiles (profession);
CREATE INDEX ix_intro_spotlights_user_id ON intro_spotlights (user_id);
CREATE INDEX ix_buddy_blocks_blocked_id ON buddy_blocks (blocked_id);
CREATE INDEX ix_buddy_blocks_user_id ON buddy_blocks (user_id);
CREATE INDEX ix_buddy_checkins_pair_id ON buddy_checkins (pair_id);
CREATE INDEX ix_buddy_checkins_user_id ON buddy_checkins (user_id);
CREATE INDEX ix_buddy_offers_candidate_id ON buddy_offers (candidate_id);
CREATE INDEX ix_buddy_offers_request_id ON buddy_offers (request_id);
CREATE INDEX ix_buddy_pairs_member_a ON buddy_pairs (member_a);
CREATE INDEX ix_buddy_pairs_member_b ON buddy_pairs (member_b);
CREATE INDEX ix_buddy_pairs_status ON buddy_pairs (status);
CREATE INDEX ix_buddy_requests_requester_id ON buddy_requests (requester_id);
CREATE INDEX ix_buddy_requests_status ON buddy_requests (status);
CREATE INDEX ix_question_invites_question_id ON question_invites (question_id);
CREATE INDEX ix_question_invites_user_id ON question_invites (user_id);
CREATE INDEX ix_question_questions_asker_id ON question_questions (asker_id);
CREATE INDEX ix_question_questions_event_id ON question_questions (event_id);
CREATE INDEX ix_question_questions_profession ON question_questions (profession);
CREATE INDEX ix_question_questions_status ON question_questions (status);
CREATE INDEX ix_casus_contributions_run_id ON casus_contributions (run_id);
CREATE INDEX ix_casus_contributions_user_id ON casus_contributions (user_id);
CREATE INDEX ix_casus_invitations_run_id ON casus_invitations (run_id);
CREATE INDEX ix_casus_invitations_user_id ON casus_invitations (user_id);
CREATE INDEX ix_casus_runs_root_event_id ON casus_runs (root_event_id);
CREATE INDEX ix_casus_runs_status ON casus_runs (status);
CREATE INDEX ix_casus_runs_theme ON casus_runs (theme);
CREATE INDEX ix_casus_submissions_status ON casus_submissions (status);
CREATE INDEX ix_casus_submissions_theme ON casus_submissions (theme);
CREATE INDEX ix_casus_submissions_user_id ON casus_submissions (user_id);
CREATE INDEX ix_digest_activity_at ON digest_activity (at);
CREATE INDEX ix_digest_subscriptions_enabled ON digest_subscriptions (enabled);
CREATE INDEX ix_stats_recent_events_at ON stats_recent_events (at);
CREATE INDEX ix_stats_recent_events_author_tag ON stats_recent_events (author_tag);
CREATE INDEX ix_events_events_series_id ON events_events (series_id);
CREATE INDEX ix_events_events_starts_at ON events_events (starts_at);
CREATE INDEX ix_events_events_status ON events_events (status);
CREATE INDEX ix_events_cards_event_id ON events_cards (event_id);
CREATE INDEX ix_events_evaluations_event_id ON events_evaluations (event_id);
CREATE INDEX ix_events_evaluations_user_id ON events_evaluations (user_id);
CREATE INDEX ix_events_rsvps_event_id ON events_rsvps (event_id);
CREATE INDEX ix_events_rsvps_user_id ON events_rsvps (user_id);
DELETE FROM "sqlite_sequence";
COMMIT;
